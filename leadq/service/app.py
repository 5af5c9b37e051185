"""The leadq service: an ASGI app over a store, with its background workers."""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from setproctitle import setproctitle

from leadq.qualification.api import router as qualifications_router
from leadq.dashboard.routes import install as install_dashboard
from leadq.service import lead_actions, tracking
from leadq.service.delivery import (
    DeliverySettings,
    DeliveryWorker,
    settings_from_environment,
)
from leadq.service.errors import install_handlers
from leadq.service.leads_api import router as leads_router
from leadq.service.model_versions import ensure_active_model, warn_beyond_limits
from leadq.service.schedule import RescoreWorker
from leadq.service.tracking_writer import stop_tracking_writer, tracking_writer
from leadq.service.webhooks_api import router as webhooks_router
from leadq.store.database import Store, open_store

log = logging.getLogger("leadq.service")
# The process id of `leadq serve`, set for its worker processes.
PARENT_VARIABLE = "LEADQ_SERVE_PID"
# From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


def create_app(
    store: Store,
    *,
    workers: bool = True,
    rescore_every: float = 3600.0,
    webhook_settings: DeliverySettings | None = None,
    groups_in_own_process: bool = False,
) -> FastAPI:
    """Build the app; `workers` starts webhook delivery and scheduled rescoring.

    Without `webhook_settings`, delivery reads LEADQ_WEBHOOK_* variables
    when the app starts. `groups_in_own_process` has a child process write
    the tracking API's groups (leadq.service.group_process), started with the app.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        active = ensure_active_model(store)
        # In `leadq serve --workers N` the parent process, which runs the
        # background workers, logs the warning once for all processes.
        if workers:
            warn_beyond_limits(active)
        # The modules and the compiled model loaded so far live as long as
        # the process. Frozen, they drop out of the cyclic garbage collector's
        # full collections, which paused every request for 100 ms and more
        # under load (benchmarks/RESULTS.md).
        gc.freeze()
        if groups_in_own_process:
            tracking_writer(app, tracking.screen_requests)
        running = start_workers(store, rescore_every, webhook_settings) if workers else []
        try:
            yield
        finally:
            stop_tracking_writer(app)
            if workers:
                stop_workers(running)
            # Frozen objects would outlive the interpreter's shutdown, and
            # DuckDB's bindings would then report them as leaked at every stop.
            gc.unfreeze()

    app = FastAPI(
        title="leadq",
        summary="Lead scoring and qualification: tracking API, leads API, webhooks and a dashboard.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.groups_in_own_process = groups_in_own_process
    install_handlers(app)
    app.include_router(tracking.router)
    app.include_router(leads_router)
    app.include_router(lead_actions.router)
    app.include_router(webhooks_router)
    app.include_router(qualifications_router)
    install_dashboard(app)
    return app


def start_workers(
    store: Store, rescore_every: float = 3600.0, webhook_settings: DeliverySettings | None = None
) -> list:
    """Start the background workers. Each has a `stop()` that waits for it."""
    settings = webhook_settings or settings_from_environment()
    return [DeliveryWorker(store, settings).start(), RescoreWorker(store, rescore_every)]


def stop_workers(running: list) -> None:
    """Stop the background workers, each after its work in flight, and log the stop."""
    for worker in running:
        worker.stop()
    log.info("leadq serve stopped")


def create_worker_process_app() -> FastAPI:
    """Build the app of one `leadq serve --workers N` process, without background workers.

    The parent process runs webhook delivery and scheduled rescoring, and
    has set LEADQ_DATABASE_URL and LEADQ_ARTEFACTS_DIR to its store's
    before starting this process. It has also upgraded the schema.
    """
    from leadq.cli import configure_logging
    from leadq.service.commands import log_like_the_service

    parent = int(os.environ[PARENT_VARIABLE])
    end_with_parent(parent)
    name_process(f"leadq serve: HTTP process of {parent}")
    # A spawned process starts without the logging that `leadq serve` set up.
    configure_logging()
    log_like_the_service()
    store = open_store(os.environ["LEADQ_DATABASE_URL"], upgrade=False)
    return create_app(store, workers=False, groups_in_own_process=writes_groups_in_own_process(store))


def writes_groups_in_own_process(store: Store) -> bool:
    """Tell whether `leadq serve` writes tracking groups in a child process: on PostgreSQL.

    The child shares no interpreter lock with the event loop. That raised
    /v1/track on PostgreSQL by about a quarter, and on SQLite it made no
    difference, so SQLite keeps the writer thread alone (benchmarks/RESULTS.md).
    """
    return store.dialect == "postgresql"


def name_process(title: str) -> None:
    """Show `title` as the command line of this process in ps and top.

    A spawned process's own command line names only Python's multiprocessing.
    """
    setproctitle(title)


def end_with_parent(parent_pid: int, signal_number: int = signal.SIGTERM) -> None:
    """Have Linux send this process `signal_number` when `leadq serve` ends, even by SIGKILL.

    Without it, worker processes of a killed `leadq serve` go on serving
    requests on its port, without webhook delivery or rescoring, and a new
    `leadq serve` cannot bind the port.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal_number) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed with errno %d", ctypes.get_errno())
    # The parent may have ended before prctl took effect.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal_number)
