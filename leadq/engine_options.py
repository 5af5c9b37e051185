"""The command line's engine options: their definitions and their checks.

`leadq score`, `leadq explain`, `leadq backtest`, `leadq suggest` and
`leadq report` share the engine choice, the Spark master and the check of
a PostgreSQL server's URL; `leadq score` also checks DuckDB's memory limit.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq.engines import DEFAULT_MEMORY_LIMIT, DEFAULT_SPARK_MASTER, ENGINES, EngineSettings, postgres_url
from leadq.errors import OptionError
from leadq.streaming import check_memory_limit

TABLE_ENGINES = ("postgres", "spark")

Engine = Enum("Engine", {name: name for name in ENGINES}, type=str)

SparkMasterOption = Annotated[
    Optional[str],
    typer.Option(
        "--spark-master",
        help="Spark master URL for --engine spark. Default: local[2], or the "
        "master that spark-submit sets.",
    ),
]


def engine_settings(
    engine: str,
    database: str | None,
    spark_master: str | None,
    memory_limit: str | None = None,
) -> EngineSettings:
    """Return the settings of `engine`; raise OptionError for another engine's option."""
    if memory_limit is not None and engine != "duckdb":
        raise OptionError(
            f"--memory-limit applies to --engine duckdb; remove it or use "
            f"--engine duckdb instead of {engine}"
        )
    if database is not None and engine != "postgres":
        raise OptionError(
            f"--database names the PostgreSQL server of --engine postgres; "
            f"remove it or use --engine postgres instead of {engine}"
        )
    if spark_master is not None and engine != "spark":
        raise OptionError(
            f"--spark-master applies to --engine spark; remove it or use "
            f"--engine spark instead of {engine}"
        )
    if engine == "postgres":
        database = postgres_url(database)
    return EngineSettings(
        database_url=database,
        spark_master=spark_master or DEFAULT_SPARK_MASTER,
        memory_limit=DEFAULT_MEMORY_LIMIT if memory_limit is None else check_memory_limit(memory_limit),
    )


def table_names(
    engine: str,
    leads: Path | None,
    events: Path | None,
    leads_table: str | None,
    events_table: str | None,
) -> tuple[str, str] | None:
    """Return the (leads, events) tables to read, or None to read files."""
    if leads is not None:
        if leads_table is not None or events_table is not None:
            raise OptionError(
                f"both a LEADS file ({leads}) and tables are given; score the "
                "file, or remove it to read --leads-table and --events-table"
            )
        return None
    if engine not in TABLE_ENGINES:
        raise OptionError(
            f"missing LEADS file; --engine {engine} reads files, and only "
            "--engine postgres or spark reads tables"
        )
    if events is not None:
        raise OptionError(
            f"--events {events} is a file, but the leads come from a table; "
            "name the events table with --events-table instead"
        )
    return leads_table or "leads", events_table or "events"
