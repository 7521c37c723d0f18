"""Calling the async Temporal client from sync Flask views and sync activities.

One asyncio event loop runs on a daemon thread per process, made lazily on first use and
remade when the process id changes (gunicorn forks after import). Calls are submitted with
`run_coroutine_threadsafe(...).result(timeout)`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from shared.errors import Unavailable
from shared.settings import Settings, SettingsError
from shared.temporal_telemetry import client_options, interceptors

T = TypeVar("T")
log = logging.getLogger(__name__)


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """The client's mTLS from TEMPORAL_TLS_CERT/KEY/CA (PEM files) and TEMPORAL_TLS_SERVER_NAME;
    False (plaintext, the loopback dev server) when none is set."""
    names = (settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca)
    if not any(names) and not settings.temporal_tls_server_name:
        return False
    if bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        raise SettingsError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mutual TLS)")

    def read(variable: str, path: str) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise SettingsError(f"{variable}: cannot read {path}: {error.strerror}") from error

    return TLSConfig(
        server_root_ca_cert=read("TEMPORAL_TLS_CA", settings.temporal_tls_ca),
        client_cert=read("TEMPORAL_TLS_CERT", settings.temporal_tls_cert),
        client_private_key=read("TEMPORAL_TLS_KEY", settings.temporal_tls_key),
        domain=settings.temporal_tls_server_name or None,
    )


class TemporalGateway:
    def __init__(self, address: str, namespace: str = "default", tls: TLSConfig | bool = False) -> None:
        self.address = address
        self.namespace = namespace
        self.tls = tls
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporal-gateway", daemon=True).start()
                self._loop, self._pid, self._client = loop, os.getpid(), None
            return self._loop

    async def _get_client(self) -> Client:
        if self._client is None:
            # With tracing on, an update carries the request's trace into the workflow.
            self._client = await Client.connect(
                self.address, namespace=self.namespace, tls=self.tls, interceptors=interceptors()
            )
        return self._client

    def call(self, operation: Callable[[Client], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `operation(client)` on the gateway loop and wait for its result."""
        loop = self._ensure_loop()

        async def run() -> T:
            return await operation(await self._get_client())

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return future.result(timeout)
        except TimeoutError as error:
            future.cancel()
            raise Unavailable("Temporal did not answer in time") from error
        except RuntimeError as error:
            if "Failed client connect" in str(error) or "connect" in str(error).lower():
                with self._lock:
                    self._client = None
                raise Unavailable(f"Temporal is unreachable: {error}") from error
            raise

    def reachable(self) -> bool:
        try:
            self.call(lambda client: client.service_client.check_health(), timeout=3.0)
            return True
        except Exception:  # readiness answers yes or no, whatever the failure
            return False


async def connect_with_retry(
    address: str, namespace: str = "default", tls: TLSConfig | bool = False
) -> Client:
    """A worker's client. The dev server may still be starting beside a worker: keep trying, with
    backoff. It exports the SDK's metrics and carries traces when configured (temporal_telemetry)."""
    delay = 0.5
    while True:
        try:
            return await Client.connect(address, namespace=namespace, tls=tls, **client_options())
        except RuntimeError as error:
            log.warning("Temporal at %s not reachable yet (%s); retrying", address, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def serve_until_signalled(
    build_worker: Callable[[ThreadPoolExecutor], Worker],
    activity_threads: int,
    on_started: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run a worker (synchronous activities on a thread pool) until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=activity_threads, thread_name_prefix="activity") as executor:
        async with build_worker(executor):
            if on_started is not None:
                await on_started()
            await stop.wait()


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the schedule `schedule_id`, or bring an existing one to `schedule` (its queue,
    spec and policy as this release defines them): every worker start runs this. True if this
    call created it."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return False
    log.info("created schedule %s", schedule_id)
    return True
