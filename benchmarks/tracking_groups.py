"""Time the tracking API's write path without HTTP: `ingest_requests` on groups of track messages.

`leadq serve` writes the tracking requests that arrive together as one
group: one transaction, one rescore of the leads they touch. This script
calls the same function in a loop, in one process, on a fresh SQLite file
or PostgreSQL schema with the model and leads of `load_service.py`, and
reports the wall and CPU time per group. Without HTTP, the event loop and
the load generator, it shows what a change to the write path costs:

    python -m benchmarks.tracking_groups --database postgresql --group-size 8 --groups 400

Each group contains `--group-size` requests of one track message each, for
leads drawn at random (seed 1). `--warmup` groups run first and are not
timed, so each database connection has prepared its statements.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.load_service import EVENT, MODEL, fresh_database, lead_key
from leadq.service.ingest import Message, ingest_requests
from leadq.service.model_versions import activate_model, ensure_active_model
from leadq.store.database import Store, open_store

IDENTIFY_BATCH = 200


@contextmanager
def prepared_store(kind: str, leads: int) -> Iterator[Store]:
    """Yield a fresh store with the benchmark model active and `leads` identified leads."""
    with tempfile.TemporaryDirectory(prefix="leadq-groups-") as folder, fresh_database(kind, Path(folder)) as url:
        store = open_store(url)
        try:
            with store.write() as connection:
                activate_model(connection, MODEL, "tracking groups benchmark")
            ensure_active_model(store)
            for start in range(0, leads, IDENTIFY_BATCH):
                ingest_requests(store, [[_identify(index) for index in range(start, min(start + IDENTIFY_BATCH, leads))]])
            yield store
        finally:
            store.dispose()


def _identify(index: int) -> Message:
    traits = {"email": f"lead{index}@bench.example", "company_size": 50 + index % 500}
    return Message("identify", str(uuid.uuid4()), user_id=lead_key(index), traits=traits)


def _group(chooser: random.Random, size: int, leads: int) -> list[list[Message]]:
    return [
        [Message("track", str(uuid.uuid4()), user_id=lead_key(chooser.randrange(leads)), event=EVENT)]
        for _ in range(size)
    ]


def measure(store: Store, group_size: int, groups: int, warmup: int, leads: int) -> dict:
    """Write `warmup` groups, then time `groups` more; return the means per group."""
    chooser = random.Random(1)
    for _ in range(warmup):
        ingest_requests(store, _group(chooser, group_size, leads))
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(groups):
        ingest_requests(store, _group(chooser, group_size, leads))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "database": store.dialect,
        "group_size": group_size,
        "groups": groups,
        "wall_ms_per_group": round(wall / groups * 1000, 3),
        "cpu_ms_per_group": round(cpu / groups * 1000, 3),
        "messages_per_second": round(group_size * groups / wall),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--group-size", type=int, default=8, help="requests per group (default 8)")
    parser.add_argument("--groups", type=int, default=400, help="timed groups (default 400)")
    parser.add_argument("--warmup", type=int, default=20, help="groups before the timing (default 20)")
    parser.add_argument("--leads", type=int, default=1000, help="leads the events go to (default 1000)")
    options = parser.parse_args(argv)
    for name in ("group_size", "groups", "leads"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return options


def main(argv: list[str] | None = None) -> dict:
    options = parse_args(argv)
    with prepared_store(options.database, options.leads) as store:
        report = measure(store, options.group_size, options.groups, options.warmup, options.leads)
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
