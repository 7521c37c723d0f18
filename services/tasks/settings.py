"""The tasks service's own knobs (what all services share is `shared.settings.Settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from shared.settings import Settings


@dataclass(frozen=True)
class TasksSettings(Settings):
    SERVICE: ClassVar[str] = "tasks"
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        "task_open_hall_after": "NUANLIU_TASK_OPEN_HALL_AFTER",
        "max_led_open_tasks": "NUANLIU_MAX_LED_OPEN_TASKS",
        "tasks_task_queue": "NUANLIU_TASKS_TASK_QUEUE",
        "task_sweep_every": "NUANLIU_TASK_SWEEP_EVERY",
    }

    service: str = "tasks"
    # The claim path holds a connection across its conditional UPDATEs: a larger pool by default.
    db_pool_size: int = 10
    # An unclaimed task opens to the whole county's members after this.
    task_open_hall_after: timedelta = timedelta(days=7)
    # A member may lead at most this many live tasks at once.
    max_led_open_tasks: int = 5
    # The tasks worker's own queue, and how often its schedule runs the open-hall and overdue sweeps.
    tasks_task_queue: str = "nuanliu-tasks"
    task_sweep_every: timedelta = timedelta(minutes=1)
