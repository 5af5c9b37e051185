"""The webhook delivery worker: a thread that sends due outbox rows.

It polls the outbox every `poll_seconds` and right after each send ends,
claims due rows (see `leadq.service.outbox`), POSTs each one signed to its
subscription's URL from a small thread pool, and records the attempt. A 2xx
response marks the row delivered. Anything else (another status, a timeout,
a refused connection, a redirect) schedules a retry with exponential
backoff until `max_attempts`, after which the row is `failed`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields

import httpx
from sqlalchemy.exc import SQLAlchemyError

from leadq.errors import OptionError
from leadq.service.outbox import (
    AttemptResult,
    Claim,
    claim_due,
    has_due_rows,
    next_state,
    record_attempt,
)
from leadq.service.signing import signed_headers
from leadq.service.webhooks import DELIVERED, FAILED, PENDING
from leadq.store.database import Store, now_micros

log = logging.getLogger("leadq.service")

USER_AGENT = "leadq-webhooks/0.1.0"
# How much of a non-2xx response body the delivery log keeps.
MAX_LOGGED_BODY = 300
# Pause after a database error before the worker tries again.
DATABASE_RETRY_SECONDS = 2.0
MAX_JITTER = 0.2


@dataclass(frozen=True)
class DeliverySettings:
    """Settings of webhook sending and retries. Times are in seconds."""

    retry_base_seconds: float = 30.0
    retry_max_delay_seconds: float = 8 * 3600.0
    max_attempts: int = 14
    timeout_seconds: float = 10.0
    lease_seconds: float = 120.0
    poll_seconds: float = 0.25
    concurrency: int = 8

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) <= 0:
                raise OptionError(f"{ENVIRONMENT[field.name]} must be greater than 0")
        # Connect, write and read may each take the whole timeout.
        if self.lease_seconds <= 4 * self.timeout_seconds:
            raise OptionError(
                f"{ENVIRONMENT['lease_seconds']} ({self.lease_seconds:g}) must be "
                f"more than 4 times {ENVIRONMENT['timeout_seconds']} "
                f"({self.timeout_seconds:g}), so that a send ends before another "
                "worker may take its webhook"
            )


@dataclass(frozen=True)
class Setting:
    field: str
    variable: str
    help: str


# The environment variables of the service's webhook delivery.
SETTINGS = (
    Setting(
        "retry_base_seconds",
        "LEADQ_WEBHOOK_RETRY_BASE_SECONDS",
        "Delay before the first retry; it doubles with each failed attempt.",
    ),
    Setting(
        "retry_max_delay_seconds",
        "LEADQ_WEBHOOK_RETRY_MAX_DELAY_SECONDS",
        "Maximum delay between two attempts, before jitter.",
    ),
    Setting(
        "max_attempts",
        "LEADQ_WEBHOOK_MAX_ATTEMPTS",
        "Attempts before a webhook is marked failed.",
    ),
    Setting(
        "timeout_seconds",
        "LEADQ_WEBHOOK_TIMEOUT_SECONDS",
        "Timeout of each step of a request: connect, send, wait for the response.",
    ),
    Setting(
        "lease_seconds",
        "LEADQ_WEBHOOK_LEASE_SECONDS",
        "How long a worker holds a webhook it sends; after a crash the webhook "
        "is sent again once this has passed. Must be more than 4 timeouts.",
    ),
    Setting(
        "poll_seconds",
        "LEADQ_WEBHOOK_POLL_SECONDS",
        "How often the worker looks for new webhooks.",
    ),
    Setting(
        "concurrency",
        "LEADQ_WEBHOOK_CONCURRENCY",
        "Webhooks sent at the same time by one server process.",
    ),
)
ENVIRONMENT = {setting.field: setting.variable for setting in SETTINGS}


def settings_from_environment(
    environ: Mapping[str, str] | None = None,
) -> DeliverySettings:
    """Read DeliverySettings from LEADQ_WEBHOOK_* variables, defaults for unset ones."""
    environ = os.environ if environ is None else environ
    values = {}
    for field in fields(DeliverySettings):
        name = ENVIRONMENT[field.name]
        if name in environ:
            kind = int if field.type == "int" else float
            values[field.name] = _parse_number(name, environ[name], kind)
    return DeliverySettings(**values)


def retry_delay(attempt: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Return the seconds to wait after failed attempt number `attempt` (1-based).

    The delay doubles from `retry_base_seconds`, stops growing at
    `retry_max_delay_seconds`, and is then stretched by a random 0-20%, so
    webhooks that failed together do not all retry at the same moment.
    """
    exponent = min(attempt - 1, 64)
    delay = min(
        settings.retry_base_seconds * 2.0**exponent, settings.retry_max_delay_seconds
    )
    return delay * (1.0 + rng.uniform(0.0, MAX_JITTER))


def send(client: httpx.Client, claim: Claim) -> AttemptResult:
    """POST one claimed webhook, signed now, and return how the attempt went."""
    body = claim.payload.encode("utf-8")
    headers = signed_headers(
        claim.secret, claim.delivery_id, claim.event_type, body, int(time.time())
    )
    started_at = now_micros()
    started = time.perf_counter()
    try:
        with client.stream(
            "POST", claim.url, content=body, headers=headers
        ) as response:
            status_code = response.status_code
            excerpt = None if response.is_success else _body_excerpt(response)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        return AttemptResult(
            started_at, None, f"{type(error).__name__}: {error}", _ms_since(started)
        )
    return AttemptResult(started_at, status_code, excerpt, _ms_since(started))


class DeliveryWorker:
    """Sends webhooks from the outbox in a background thread until stopped."""

    def __init__(self, store: Store, settings: DeliverySettings | None = None) -> None:
        self.store = store
        self.settings = settings or DeliverySettings()
        self._rng = random.Random()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        # NOTE: httpx applies the timeout to each step (connect, write, each
        # read), not to the whole request. A receiver that trickles its response
        # can outlast the lease, and then another worker sends the row again.
        self._client = httpx.Client(
            timeout=self.settings.timeout_seconds,
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            limits=httpx.Limits(max_connections=self.settings.concurrency),
        )
        self._pool = ThreadPoolExecutor(
            self.settings.concurrency, thread_name_prefix="leadq-webhook-send"
        )
        self._thread = threading.Thread(
            target=self._run, name="leadq-webhook-delivery", daemon=True
        )

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop claiming, let the sends in flight finish and record them."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        self._client.close()
        log.info("webhook delivery stopped")

    def _run(self) -> None:
        log.info(
            "webhook delivery started: %d sends at a time, %d attempts, "
            "first retry after %g s",
            self.settings.concurrency,
            self.settings.max_attempts,
            self.settings.retry_base_seconds,
        )
        while not self._stopping.is_set():
            if self._claim_and_submit() == 0:
                self._wake.wait(self.settings.poll_seconds)
                self._wake.clear()

    def _claim_and_submit(self) -> int:
        free = self._free_slots()
        if free == 0:
            return 0
        now = now_micros()
        try:
            if not has_due_rows(self.store, now):
                return 0
            claims = claim_due(
                self.store, now, free, int(self.settings.lease_seconds * 1e6)
            )
        except SQLAlchemyError:
            log.exception(
                "claiming webhooks failed; retrying in %g s", DATABASE_RETRY_SECONDS
            )
            self._stopping.wait(DATABASE_RETRY_SECONDS)
            return 0
        for claim in claims:
            self._submit(claim)
        return len(claims)

    def _free_slots(self) -> int:
        with self._lock:
            return self.settings.concurrency - self._in_flight

    def _submit(self, claim: Claim) -> None:
        with self._lock:
            self._in_flight += 1
        future = self._pool.submit(self._deliver, claim)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._in_flight -= 1
        self._wake.set()
        if future.exception() is not None:
            log.error(
                "sending a webhook failed unexpectedly", exc_info=future.exception()
            )

    def _deliver(self, claim: Claim) -> None:
        result = send(self._client, claim)
        status = next_state(result, claim.attempt, self.settings.max_attempts)
        delay = 0.0
        if status == PENDING:
            delay = retry_delay(claim.attempt, self.settings, self._rng)
        retry_at = now_micros() + int(delay * 1e6)
        try:
            recorded = record_attempt(self.store, claim, result, status, retry_at)
        except SQLAlchemyError:
            log.exception(
                "recording attempt %d of webhook %s failed; it is sent again "
                "when its lease ends",
                claim.attempt,
                claim.delivery_id,
            )
            return
        _log_attempt(claim, result, status if recorded else None, delay)


def _log_attempt(
    claim: Claim, result: AttemptResult, status: str | None, delay: float
) -> None:
    """Log an attempt. `status` is None if the row was no longer this worker's."""
    if result.status_code is None:
        outcome = result.error
    else:
        outcome = f"HTTP {result.status_code}"
    ids = (claim.delivery_id, claim.event_type, claim.subscription_id, claim.attempt)
    prefix = "webhook %s (%s) to subscription %d, attempt %d: %s"

    if status is None:
        log.info(
            prefix + "; the row was cancelled or taken over meanwhile", *ids, outcome
        )
    elif status == DELIVERED:
        log.info(prefix + " in %.0f ms, delivered", *ids, outcome, result.duration_ms)
    elif status == FAILED:
        log.error(prefix + "; no attempts left, so the webhook failed", *ids, outcome)
    else:
        log.warning(prefix + "; retrying in %.0f s", *ids, outcome, delay)


def _body_excerpt(response: httpx.Response) -> str | None:
    collected = b""
    try:
        for chunk in response.iter_bytes():
            collected += chunk
            if len(collected) >= MAX_LOGGED_BODY * 4:
                break
    except httpx.HTTPError:
        # The status code is already known, so a body cut short is logged as is.
        pass
    text = collected.decode("utf-8", errors="replace").strip()
    return text[:MAX_LOGGED_BODY] or None


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _parse_number(name: str, text: str, kind: type) -> float:
    try:
        return kind(text)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise OptionError(f"{name} must be {expected}, got {text!r}") from None
