"""The logged-data contract: every table and column `evorec simulate` writes to DuckDB.

This is the single source of truth that the simulator writes, the ranker reads, the SQL
tools describe to agents (``describe_data``) and the README documents. Each column has a
DuckDB type and a meaning written for an analyst (or a Reward persona) to read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "SIGNAL_COLUMNS", "TABLES", "Table", "create_table_sql"]


@dataclass(frozen=True)
class Column:
    """One column: name, DuckDB type, and its documented meaning."""

    name: str
    type: str
    meaning: str


@dataclass(frozen=True)
class Table:
    """One logged-data table."""

    name: str
    meaning: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "meta",
            "Key/value facts about the run that produced this database.",
            (
                Column(
                    "key",
                    "VARCHAR",
                    "Name: surface, seed, users, days, num_topics, "
                    "logging_policy, evorec_version, ...",
                ),
                Column("value", "VARCHAR", "Value as text (JSON for structured values)."),
            ),
        ),
        Table(
            "users",
            "One row per simulated user.",
            (
                Column("user_id", "INTEGER", "User id, 0..users-1."),
                Column(
                    "features",
                    "FLOAT[]",
                    "Observable user profile: a noisy view of the "
                    "user's topic interests at sign-up (length num_topics).",
                ),
            ),
        ),
        Table(
            "documents",
            "One row per document (video) in the corpus.",
            (
                Column("doc_id", "INTEGER", "Document id."),
                Column("topic", "INTEGER", "Main topic, 0..num_topics-1."),
                Column("length", "DOUBLE", "Video length in seconds."),
                Column(
                    "quality_score",
                    "DOUBLE",
                    "Observable, noisy estimate of the "
                    "document's quality (a content classifier's score; higher is better). "
                    "The true quality is hidden.",
                ),
                Column(
                    "features",
                    "FLOAT[]",
                    "Document topic embedding the ranker may see (length num_topics).",
                ),
                Column(
                    "views",
                    "BIGINT",
                    "Prior view count before the simulation started "
                    "(popularity; clickbait tends to be popular).",
                ),
            ),
        ),
        Table(
            "impressions",
            "One row per shown item: who saw what, where, when, and every response signal.",
            (
                Column("user_id", "INTEGER", "User who was shown the item."),
                Column("day", "INTEGER", "Simulated day, 0..days-1."),
                Column("step", "INTEGER", "Session step within the day (one slate per step)."),
                Column("position", "INTEGER", "Position in the slate, 0 = top."),
                Column("doc_id", "INTEGER", "Document shown."),
                Column(
                    "propensity",
                    "DOUBLE",
                    "Probability the logging policy put this "
                    "document in this slate (for off-policy correction).",
                ),
                Column("click", "BOOLEAN", "The user clicked (started watching) the item."),
                Column("watch_time", "DOUBLE", "Seconds watched (0 without a click)."),
                Column("completion", "DOUBLE", "Fraction of the video watched, 0..1."),
                Column(
                    "liked",
                    "BOOLEAN",
                    "The user liked the item (only after a click). The "
                    "reward signal `like` reads this column.",
                ),
                Column("dismiss", "BOOLEAN", "The user dismissed the item ('not interested')."),
                Column(
                    "survey",
                    "TINYINT",
                    "Sparse, noisy satisfaction survey answer 1..5; "
                    "NULL when the user was not asked (most rows).",
                ),
            ),
        ),
        Table(
            "user_days",
            "One row per user and simulated day: the delayed, long-term outcomes.",
            (
                Column("user_id", "INTEGER", "User."),
                Column("day", "INTEGER", "Simulated day."),
                Column("active", "BOOLEAN", "The user came to the platform that day."),
                Column("time_spent", "DOUBLE", "Total seconds watched that day (0 if inactive)."),
                Column("clicks", "INTEGER", "Clicks that day."),
                Column(
                    "satisfaction",
                    "DOUBLE",
                    "The user's latent satisfaction at the end of "
                    "the day (drives whether they return); the north star aggregates it.",
                ),
            ),
        ),
    )
}


#: Φ reward signal name -> impressions column (``like`` is an SQL keyword, so its column
#: is ``liked``).
SIGNAL_COLUMNS: dict[str, str] = {
    "click": "click",
    "watch_time": "watch_time",
    "completion": "completion",
    "like": "liked",
    "dismiss": "dismiss",
    "survey": "survey",
}


def create_table_sql(table: Table) -> str:
    """``CREATE TABLE`` for a contract table (used by the simulator and tests)."""
    cols = ", ".join(f"{c.name} {c.type}" for c in table.columns)
    return f"CREATE TABLE {table.name} ({cols})"
