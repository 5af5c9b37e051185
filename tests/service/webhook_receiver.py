"""A real webhook receiver on 127.0.0.1 and helpers that fill the store.

The receiver verifies each request's signature with the subscription's
secret, records what arrived, and responds with the status codes a test
queues (200 once the queue is empty, 401 for a bad signature).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import uvicorn

from leadq.service.delivery import DeliverySettings
from leadq.service.signing import SignatureError, verify
from leadq.service.webhooks import create_subscription, enqueue
from leadq.store.database import Store, now_micros

SECRET = "test-secret-with-enough-characters"
# Fast retries so tests that fail a delivery on purpose finish quickly.
QUICK = DeliverySettings(
    retry_base_seconds=0.05,
    retry_max_delay_seconds=0.2,
    max_attempts=5,
    timeout_seconds=2.0,
    lease_seconds=10.0,
    poll_seconds=0.05,
    concurrency=4,
)


@dataclass
class Received:
    delivery_id: str
    event_type: str
    body: bytes
    signature_error: str | None
    status: int
    path: str
    headers: dict[str, str]

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server thread that plays a webhook endpoint."""

    port: int
    secret: str = SECRET
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hold_seconds: float = 0.0
    # Requests whose handling has begun, including those still in progress.
    started: int = 0
    # The highest number of requests for one path handled at the same time.
    max_concurrent: dict[str, int] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until `count` requests have arrived, or fail the test."""
        wait_until(
            lambda: len(self.received) >= count, timeout, f"{count} webhooks to arrive"
        )
        return list(self.received)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.started += 1
            self._in_flight[path] = self._in_flight.get(path, 0) + 1
            self.max_concurrent[path] = max(
                self.max_concurrent.get(path, 0), self._in_flight[path]
            )
        try:
            time.sleep(self.hold_seconds)
            return self._respond(path, headers, body)
        finally:
            with self._lock:
                self._in_flight[path] -= 1

    def _respond(self, path: str, headers: dict[str, str], body: bytes) -> int:
        try:
            verify(self.secret, headers, body)
            error = None
        except SignatureError as rejected:
            error = str(rejected)
        with self._lock:
            if error:
                status = 401
            elif self.statuses:
                status = self.statuses.pop(0)
            else:
                status = 200
            self.received.append(
                Received(
                    delivery_id=headers.get("leadq-delivery-id", ""),
                    event_type=headers.get("leadq-event-type", ""),
                    body=body,
                    signature_error=error,
                    status=status,
                    path=path,
                    headers=headers,
                )
            )
        return status


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver.handle(self.path, headers, body)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, *args) -> None:
            pass

    return Handler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float, description: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {description}")
        time.sleep(0.02)


def subscribe(
    store: Store, url: str, event_types=("lead.stage_changed",), secret: str = SECRET
) -> int:
    with store.write() as connection:
        subscription, _ = create_subscription(
            connection, url, event_types, secret, now_micros()
        )
    return subscription.id


def stage_change(store: Store, lead_id: int, new_stage: str = "sql") -> int:
    """Enqueue a lead.stage_changed webhook as the core does, and count the rows."""
    data = {"lead_id": lead_id, "old_stage": "mql", "new_stage": new_stage}
    with store.write() as connection:
        return enqueue(connection, "lead.stage_changed", data, now_micros())


@contextmanager
def serve_in_thread(app, port: int) -> Iterator[None]:
    """Run an ASGI app with uvicorn on 127.0.0.1 until the block ends."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20.0, "the app to start")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()
