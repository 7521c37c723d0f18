"""The delivery dispatcher as its own process (`nuanliu worker notify` starts it)."""

from __future__ import annotations

import signal
from types import FrameType

from services.notify.app import open_database
from services.notify.directory import registration_directory
from services.notify.dispatcher import Dispatcher, default_channels
from services.notify.retention import start_retention_thread
from services.notify.settings import NotifySettings


def build_dispatcher(settings: NotifySettings) -> Dispatcher:
    directory = registration_directory(settings)
    return Dispatcher(
        open_database(settings),
        default_channels(settings, directory),
        settings.delivery_policy(),
        digest_hour=settings.digest_hour,
        names=directory,
    )


def main(settings: NotifySettings) -> None:
    dispatcher = build_dispatcher(settings)
    if settings.temporal_address:
        start_retention_thread(settings)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        dispatcher.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dispatcher.run_forever(settings.dispatcher_poll_interval)
