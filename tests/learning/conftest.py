"""Synthetic leads, events and outcomes with a known signal, written as files."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODEL = """
name: learning test
fit:
  rules:
    - id: software
      field: industry
      equals: software
      points: 20
engagement:
  rules:
    - id: demo
      event: demo_requested
      points: 30
    - id: visits
      event: page_viewed
      points: 2
      max_points: 20
stages:
  - id: sql
    when: {score: total, at_least: 40}
  - id: other
"""


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def synthetic_rows(count: int, seed: int = 7):
    """Return leads, events and outcomes rows: software leads that request a
    demo convert most often, a few days after the demo."""
    rng = np.random.default_rng(seed)
    leads, events, outcomes = [], [], []
    for number in range(count):
        key = f"lead-{number}"
        created = START + timedelta(days=float(rng.uniform(0, 150)))
        industry = rng.choice(["software", "retail", "health"])
        size = int(rng.integers(1, 500))
        leads.append([key, industry, size, iso(created)])
        for _ in range(int(rng.poisson(3))):
            seen = created + timedelta(days=float(rng.uniform(0, 40)))
            events.append([f"e{len(events)}", key, "page_viewed", iso(seen)])
        demo = rng.random() < (0.6 if industry == "software" else 0.25)
        if demo:
            demo_at = created + timedelta(days=float(rng.uniform(1, 30)))
            events.append([f"e{len(events)}", key, "demo_requested", iso(demo_at)])
            if rng.random() < 0.7:
                won_at = demo_at + timedelta(days=float(rng.uniform(1, 10)))
                outcomes.append([key, "won", iso(won_at)])
        elif rng.random() < 0.05:
            outcomes.append([key, "won", iso(created + timedelta(days=float(rng.uniform(5, 60))))])
    return leads, events, outcomes


def training_request(files: dict[str, Path], **changes):
    """Return a quick TrainingRequest over the files of `_write_files`."""
    from leadq.learning.training import TrainingRequest
    from leadq.model.loading import load_model

    settings = dict(
        model=load_model(files["model"]),
        leads=files["leads"],
        events=files["events"],
        outcomes=files["outcomes"],
        created_column="created_at",
        cutoff_start=datetime(2026, 1, 15, tzinfo=timezone.utc),
        cutoff_end=datetime(2026, 6, 1, tzinfo=timezone.utc),
        every_days=14,
        horizon_days=30,
        quick=True,
    )
    settings.update(changes)
    return TrainingRequest(**settings)


@pytest.fixture()
def learning_files(tmp_path: Path) -> dict[str, Path]:
    return _write_files(tmp_path)


@pytest.fixture(scope="module")
def shared_learning_files(tmp_path_factory) -> dict[str, Path]:
    """The same files, shared by the tests of a module that only read them."""
    return _write_files(tmp_path_factory.mktemp("learning"))


def _write_files(tmp_path: Path) -> dict[str, Path]:
    return write_learning_files(tmp_path)


def write_learning_files(folder: Path, count: int = 600) -> dict[str, Path]:
    """Write MODEL and the leads, events and outcomes of `synthetic_rows(count)`."""
    leads, events, outcomes = synthetic_rows(count)
    (folder / "model.yaml").write_text(MODEL, encoding="utf-8")
    return {
        "model": folder / "model.yaml",
        "leads": write_csv(folder / "leads.csv", ["lead_id", "industry", "size", "created_at"], leads),
        "events": write_csv(folder / "events.csv", ["event_id", "lead_id", "event", "timestamp"], events),
        "outcomes": write_csv(folder / "outcomes.csv", ["lead_id", "outcome", "at"], outcomes),
    }
