"""The leadq service: an ASGI app over a store, with its background workers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from leadq.service.errors import install_handlers
from leadq.service.leads_api import router as leads_router
from leadq.store.database import Store


def create_app(store: Store, *, workers: bool = True) -> FastAPI:
    """Build the app; `workers` starts webhook delivery and scheduled rescoring."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        running = start_workers(store) if workers else []
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
    app.include_router(leads_router)
    return app


def start_workers(store: Store) -> list:
    return []
