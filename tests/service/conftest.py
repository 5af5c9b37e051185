"""Fixtures of the service tests: a webhook receiver and delivery workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.service.webhook_receiver import QUICK, Receiver, free_port, stage_change, subscribe

from leadq.service.delivery import DeliverySettings, DeliveryWorker
from leadq.store.database import Store


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port()).start()
    yield running
    running.stop()


@pytest.fixture()
def start_worker() -> Iterator[Callable[..., DeliveryWorker]]:
    """Start delivery workers that the test stops, or that stop after it."""
    workers: list[DeliveryWorker] = []

    def start(store: Store, settings: DeliverySettings = QUICK) -> DeliveryWorker:
        worker = DeliveryWorker(store, settings).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture()
def subscribe_two():
    """A factory of two subscriptions with three pending webhooks each."""

    def make(store: Store) -> tuple[int, int]:
        first = subscribe(store, "http://127.0.0.1:9/first")
        second = subscribe(store, "http://127.0.0.1:9/second")
        for lead_id in range(3):
            assert stage_change(store, lead_id) == 2
        return first, second

    return make
