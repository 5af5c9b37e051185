"""The leadq service: an ASGI app over a store, with its background workers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from leadq.service import lead_actions, tracking
from leadq.service.errors import install_handlers
from leadq.service.model_versions import ensure_active_model
from leadq.service.schedule import RescoreWorker
from leadq.store.database import Store


def create_app(store: Store, *, workers: bool = True, rescore_every: float = 3600.0) -> FastAPI:
    """Build the app; `workers` starts webhook delivery and scheduled rescoring."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ensure_active_model(store)
        running = start_workers(store, rescore_every) if workers else []
        try:
            yield
        finally:
            for worker in running:
                worker.stop()

    app = FastAPI(
        title="leadq",
        summary="Lead scoring and qualification: tracking API, leads API and webhooks.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.store = store
    install_handlers(app)
    app.include_router(tracking.router)
    app.include_router(lead_actions.router)
    return app


def start_workers(store: Store, rescore_every: float = 3600.0) -> list:
    return [RescoreWorker(store, rescore_every)]
