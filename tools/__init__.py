"""Agent tools: the guarded SQL query, data description, label correlation and the
compute_loss proxy, as plain functions and as LangChain tools (:func:`make_tools`).

The LangChain tool classes load lazily, so ``from evorec.tools import run_sql_query`` does
not import LangChain.
"""

from __future__ import annotations

from typing import Any

from evorec.tools.data import OUTCOMES, describe_data, label_correlation, render_description
from evorec.tools.sandbox import QueryResult, execute_sandboxed, run_sql_query
from evorec.tools.sql_guard import ALLOWED_TABLES, REFUSAL_CODES, check_sql

__all__ = [
    "ALLOWED_TABLES",
    "OUTCOMES",
    "REFUSAL_CODES",
    "ComputeLossTool",
    "DescribeDataTool",
    "LabelCorrelationTool",
    "ProxyEvaluator",
    "QueryResult",
    "RunSqlQueryTool",
    "check_sql",
    "describe_data",
    "execute_sandboxed",
    "label_correlation",
    "make_tools",
    "render_description",
    "run_sql_query",
]

_LAZY = {
    "ComputeLossTool",
    "DescribeDataTool",
    "LabelCorrelationTool",
    "ProxyEvaluator",
    "RunSqlQueryTool",
    "make_tools",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from evorec.tools import agent_tools

        return getattr(agent_tools, name)
    raise AttributeError(f"module 'evorec.tools' has no attribute {name!r}")
