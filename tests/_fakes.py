"""Fakes shared by the test folders (no network: scripted LangChain chat models)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.runnables import RunnableLambda
from pydantic import Field

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model whose structured output replays a script and records the prompts.

    Each ``with_structured_output(...)`` call answers with the next item of ``script`` (an
    exception item is raised); ``prompts`` keeps every prompt it was shown, joined.
    """

    messages: Any = Field(default_factory=lambda: iter(()))
    script: list[Any] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        def answer(messages: list[Any]) -> Any:
            self.prompts.append("\n".join(m.content for m in messages))
            item = self.script.pop(0)
            if isinstance(item, Exception):
                raise item
            return item

        return RunnableLambda(answer)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self
