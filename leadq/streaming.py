"""Score an events file of any size on DuckDB in bounded memory.

The events file is read and bound in batches of rows (leadq.inputs.batches,
leadq.binding.bind_events), and each bound batch is appended to a Parquet
file in a temporary folder, so leadq keeps one batch in memory. DuckDB then
runs the compiled query over that file with a memory limit, and spills
what does not fit into the same folder. Everything that spans batches stays
in the query: duplicate event ids, visits (the LAG over each lead's page
views), windows and decay.

The spooled events keep their lead key, and a view joins it to the leads
table for the lead code each time the query reads the events. Looking the
codes up per batch with pyarrow's `index_in` would hash every lead key
again for each batch: 1.8 s per batch of 1M events at 2M leads on the
2-core machine of benchmarks/RESULTS.md, about as long as binding it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from leadq.binding import (
    BindReport,
    bind_events,
    empty_events,
    event_names,
    unseen_events,
)
from leadq.compiler.layout import Layout
from leadq.compiler.query import CompiledModel
from leadq.engines import EngineSettings
from leadq.errors import LeadqError, OptionError
from leadq.inputs import SourceTable
from leadq.model.schema import ScoringModel

log = logging.getLogger("leadq.scoring")

SPOOL_FILE = "events.parquet"
# The spooled file lives for one run and is read whole, so it keeps no
# statistics. Only event names, which repeat most, get a dictionary: with
# dictionaries for every text column, writing 10M bound events took about
# three times as long, and the file was no smaller.
SPOOL_WRITE_OPTIONS = {"use_dictionary": ["event_name"], "write_statistics": False}


def streams(engine: str, model: ScoringModel) -> bool:
    """Tell whether an events file is scored in batches.

    NOTE: a model with a `predictive` section is scored in memory, because
    its features are computed in Python from the whole events table.
    """
    return engine == "duckdb" and model.predictive is None


def spool_events(
    model: ScoringModel,
    layout: Layout,
    batches: Iterable[SourceTable],
    timezone: str | None,
    report: BindReport,
    folder: Path,
) -> Path:
    """Bind each batch and append it to a Parquet file in `folder`; return the file.

    A thread writes each bound batch while the next one is read and bound.
    Arrow releases the GIL while it encodes, so the two overlap. Fills the
    report's event count and unseen event names.
    """
    started = time.perf_counter()
    schema = spool_schema(layout)
    path = folder / SPOOL_FILE
    seen: set[str] = set()
    first_row = 0
    count = 0
    with pq.ParquetWriter(path, schema, **SPOOL_WRITE_OPTIONS) as writer, ThreadPoolExecutor(1) as pool:
        pending = None
        for source in batches:
            bound = bind_events(model, layout, source, timezone, report, first_row)
            seen |= event_names(bound)
            _finish(pending)
            pending = pool.submit(writer.write_table, bound.cast(schema))
            first_row += len(source.table)
            count += 1
        _finish(pending)
    report.unseen_events = unseen_events(model, seen)
    log.info(
        "bound %d events in %d batches in %.2f s",
        report.events, count, time.perf_counter() - started,
    )  # fmt: skip
    return path


def _finish(write: Future | None) -> None:
    """Wait for the previous batch's write, so at most one bound batch waits in memory."""
    if write is not None:
        write.result()


def spool_schema(layout: Layout) -> pa.Schema:
    """Return the bound events' schema, with the lead key (text) in place of the lead code."""
    schema = empty_events(layout).schema
    position = schema.get_field_index("lead_code")
    return schema.set(position, pa.field("lead_key", pa.string()))


def run_duckdb_spooled(
    compiled: CompiledModel,
    leads: pa.Table,
    events: Path,
    as_of_micros: int,
    settings: EngineSettings,
    folder: Path,
) -> tuple[pa.Table, int]:
    """Run the query on spooled events; return the result and the events without a lead.

    DuckDB spills to `folder` beyond `settings.memory_limit`.
    """
    connection = duckdb.connect(":memory:", config=spill_config(settings, folder))
    try:
        connection.register("leads", leads)
        connection.read_parquet(str(events)).create_view("spooled_events")
        connection.execute(_coded_events(compiled.layout).sql("duckdb"))
        counted = connection.execute("SELECT count(*) FROM events WHERE lead_code IS NULL")
        without_lead = counted.fetchall()[0][0]
        relation = connection.sql(compiled.sql("duckdb"), params=[as_of_micros])
        return relation.to_arrow_table(), without_lead
    except duckdb.OutOfMemoryException as error:
        raise MemoryLimitExceeded(settings.memory_limit, error) from None
    finally:
        connection.close()


class MemoryLimitExceeded(LeadqError):
    """DuckDB needed more memory than its limit allows, even with spilling."""

    def __init__(self, limit: str | None, error: Exception) -> None:
        reason = str(error).strip().splitlines()[0]
        limit_text = f"--memory-limit {limit}" if limit else "DuckDB's default memory limit"
        super().__init__(
            f"DuckDB ran out of memory within {limit_text} ({reason}); raise "
            "--memory-limit, for example to 8GB"
        )


def spill_config(settings: EngineSettings, folder: Path) -> dict[str, object]:
    """DuckDB's settings: the memory limit, and spill files in `folder`.

    The query orders every window and ranks the result itself, so DuckDB
    need not keep rows in their input order, which saves memory.
    """
    config: dict[str, object] = {
        "temp_directory": str(folder),
        "preserve_insertion_order": False,
    }
    if settings.memory_limit is not None:
        config["memory_limit"] = settings.memory_limit
    return config


def check_memory_limit(text: str) -> str:
    """Return a memory limit that DuckDB accepts, such as 4GB; raise OptionError if not."""
    try:
        connection = duckdb.connect(":memory:", config={"memory_limit": text})
    except duckdb.Error as error:
        raise OptionError(
            f"invalid --memory-limit {text!r}: {error}; write a size such as "
            "4GB or 512MB"
        ) from None
    # NOTE: a limit near 64MB can run out of memory even on small files,
    # because the query's operators need about 60 MB (MemoryLimitExceeded).
    connection.close()
    return text


def _coded_events(layout: Layout) -> exp.Create:
    """Build the `events` view of the spooled events with their lead's code."""
    return exp.Create(
        this=exp.to_table("events"),
        kind="VIEW",
        expression=coded_events_query(layout, "spooled_events", "leads"),
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def coded_events_query(layout: Layout, events: str, leads: str) -> exp.Select:
    """Select the events of table `events`, which keep the lead key, with their lead's code.

    The code comes from the table `leads`; an event of an unknown lead gets
    a NULL code, which the query ignores.
    """
    columns = []
    for name in spool_schema(layout).names:
        if name == "lead_key":
            columns.append(exp.column("lead_code", table="leads"))
        else:
            columns.append(exp.column(name, table="events"))
    same_key = exp.EQ(
        this=exp.column("lead_key", table="events"),
        expression=exp.column("lead_key", table="leads"),
    )
    return (
        exp.select(*columns)
        .from_(exp.to_table(events).as_("events"))
        .join(exp.to_table(leads).as_("leads"), on=same_key, join_type="left")
    )
