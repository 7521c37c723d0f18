"""The transfer API with a Temporal dev server and a transfer worker behind it, for tests that
drive real transfers through HTTP (the API, approval and decision-trace tests)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient
from temporalio.client import Client, Interceptor
from temporalio.testing import WorkflowEnvironment

from services.registration.app import create_app as create_registration_app
from services.transfer import search_attributes
from services.transfer.app import create_app
from services.transfer.worker import build_worker
from shared.settings import Settings
from tests.support.infra import temporal_binary
from tests.support.served import served


@contextmanager
def live_registration(settings: Settings) -> Iterator[str]:
    """The registration app on a free local port (orgs, members, routes and moves are real);
    yields its base URL."""
    with served(create_registration_app(settings), name="registration") as url:
        yield url


@contextmanager
def live_transfer_api(
    settings_for: Callable[..., Settings],
    registration_url: str,
    interceptors: list[Interceptor] | None = None,
    worker_threads: int = 16,
    **overrides: Any,
) -> Iterator[FlaskClient]:
    """A test client of the transfer API whose workflows run on a dev server of their own, with a
    worker on `worker_threads` activity threads (and a client with `interceptors`, if given)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="temporal-live-loop", daemon=True)
    thread.start()

    def run(coroutine: Any, timeout: float = 120.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    env: WorkflowEnvironment = run(
        WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=list(search_attributes.ALL),
            dev_server_log_level="error",
        )
    )
    address = env.client.service_client.config.target_host
    settings = settings_for(
        "transfer",
        temporal_address=address,
        temporal_task_queue=f"tq-{uuid.uuid4()}",
        service_urls={"registration": registration_url},
        **overrides,
    )
    stop = asyncio.Event()

    async def serve() -> None:
        client = await Client.connect(address, interceptors=interceptors) if interceptors else env.client
        with ThreadPoolExecutor(max_workers=worker_threads) as executor:
            async with build_worker(client, settings, executor):
                await stop.wait()

    worker = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield create_app(settings).test_client()
    finally:
        loop.call_soon_threadsafe(stop.set)
        worker.result(timeout=60)
        run(env.shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
