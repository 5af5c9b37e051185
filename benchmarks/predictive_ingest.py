"""Time tracked events in the service with and without a `predictive` model.

The script trains a small artefact (`leadq train --quick`) on the synthetic
leads, events and outcomes of the learning tests (tests/learning). Then it
runs the service's write path in this process twice, each time on a fresh
SQLite store in a temporary folder. The first run uses the tests' model,
which has no `predictive` section. The second adds the artefact and a
stage that tests the probability. Each run identifies the leads, sends
warm-up events, then times `ingest_messages` for single track messages,
one message per call, as the tracking API writes a POST /v1/track that
arrives alone:

    python -m benchmarks.predictive_ingest --events 200

The artefact lies in the folder `artefacts` beside the SQLite file, the
service's default artefacts folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

PREDICTIVE_SECTION = """\
predictive:
  artefact: {artefact}
stages:
  - {{id: likely, when: {{probability: {{at_least: 0.5}}}}}}
"""


def train_artefact(folder: Path, leads: int, artefact: Path) -> None:
    """Train on the synthetic data of the learning tests: software leads that
    request a demo convert most often."""
    from leadq.learning.training import train
    from tests.learning.conftest import training_request, write_learning_files

    files = write_learning_files(folder, leads)
    train(training_request(files), artefact)


def model_texts(artefact: Path) -> dict[str, str]:
    """Return the learning tests' model, without and with the predictive section."""
    from tests.learning.conftest import MODEL

    return {
        "without `predictive`": MODEL,
        "with `predictive`": MODEL.replace("stages:\n", PREDICTIVE_SECTION.format(artefact=artefact)),
    }


def time_ingest(database: Path, model_text: str, leads: int, events: int, warmup: int) -> list[float]:
    """Return the milliseconds of each timed single-event `ingest_messages` call."""
    from leadq.service.ingest import Message, ingest_messages
    from leadq.service.model_versions import activate_model
    from leadq.store.database import open_store

    store = open_store(f"sqlite:///{database}")
    try:
        with store.write() as connection:
            activate_model(connection, model_text, "benchmark model", database.parent)
        traits = [
            {"industry": ("software", "retail", "health")[n % 3], "size": 10 + n, "created_at": "2026-01-02T00:00:00Z"}
            for n in range(leads)
        ]
        ingest_messages(
            store, [Message("identify", f"identify-{n}", user_id=f"lead-{n}", traits=traits[n]) for n in range(leads)]
        )
        timings = []
        for number in range(warmup + events):
            name = "demo_requested" if number % 10 == 0 else "page_viewed"
            message = Message("track", f"track-{number}", user_id=f"lead-{number % leads}", event=name)
            started = time.perf_counter()
            ingest_messages(store, [message])
            if number >= warmup:
                timings.append((time.perf_counter() - started) * 1000)
        _check_probabilities(store, "predictive:" in model_text)
        return timings
    finally:
        store.dispose()


def _check_probabilities(store, expected: bool) -> None:
    """Raise unless every lead has a probability exactly when the model predicts one,
    so an artefact that failed to load cannot pass for a fast one."""
    from sqlalchemy import select

    from leadq.store.tables import leads

    with store.read() as connection:
        stored = connection.execute(select(leads.c.lead_key, leads.c.reasons)).all()
    for lead_key, reasons in stored:
        found = any(reason["section"] == "predictive" for reason in json.loads(reasons))
        if found != expected:
            state = "has no" if expected else "has a"
            raise RuntimeError(f"lead {lead_key} {state} predicted probability; see the log above")


def summary(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"| {label} | {len(timings)} | {statistics.median(timings):.1f} | {p90:.1f} | {statistics.fmean(timings):.1f} |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="timed track messages per model")
    parser.add_argument("--warmup", type=int, default=20, help="untimed track messages first")
    parser.add_argument("--leads", type=int, default=50, help="leads the events go to, in turn")
    parser.add_argument("--training-leads", type=int, default=400, help="leads of the training data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    runs = {}
    with tempfile.TemporaryDirectory(prefix="leadq-predictive-") as temporary:
        root = Path(temporary)
        artefact = root / "artefacts" / "conversion"
        train_artefact(root, args.training_leads, artefact)
        for number, (label, text) in enumerate(model_texts(artefact).items()):
            # Each run has a store of its own in `root`, beside `artefacts`.
            database = root / f"leadq-{number}.db"
            runs[label] = time_ingest(database, text, args.leads, args.events, args.warmup)
    print(f"python {platform.python_version()}, {sys.platform}; ingest_messages of one track message on SQLite")
    print("| model | events | median ms | p90 ms | mean ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, timings in runs.items():
        print(summary(label, timings))
    ratio = statistics.median(runs["with `predictive`"]) / statistics.median(runs["without `predictive`"])
    print(f"median ratio, with / without: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
