"""The README documents every logged-data table and column (agents write SQL against them)."""

from pathlib import Path

from evorec.simulator.schema import TABLES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_table_and_column():
    text = README.read_text(encoding="utf-8")
    for table in TABLES.values():
        assert f"**`{table.name}`**" in text, table.name
        for column in table.columns:
            assert f"| `{column.name}` | {column.type} | {column.meaning} |" in text, column.name
