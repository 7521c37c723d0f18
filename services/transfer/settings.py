"""The transfer service's own knobs (what all services share is `shared.settings.Settings`).

Time limits come from practice (docs/domain.md) and are all configurable, so tests shrink days
into seconds; the approval chain of each route is configuration, not code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from shared.settings import Settings, parse_duration

ROUTES = ("same_county", "cross_county", "cross_province")
LETTER_VALIDITY = {
    "same_county": timedelta(days=30),
    "cross_county": timedelta(days=90),
    "cross_province": timedelta(days=180),
}
CHAINS = {
    "same_county": "sending_branch,township,receiving_branch",
    "cross_county": "sending_branch,township,county,receiving_branch",
    "cross_province": "sending_branch,township,county,receiving_branch",
}


@dataclass(frozen=True)
class TransferSettings(Settings):
    SERVICE: ClassVar[str] = "transfer"
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        "temporal_task_queue": "NUANLIU_TASK_QUEUE",
        "stage_remind_after": "NUANLIU_STAGE_REMIND_AFTER",
        "stage_overdue_after": "NUANLIU_STAGE_OVERDUE_AFTER",
        "letter_remind_before": "NUANLIU_LETTER_REMIND_BEFORE",
    }

    service: str = "transfer"
    temporal_task_queue: str = "nuanliu-transfers"
    stage_remind_after: timedelta = timedelta(days=3)
    stage_overdue_after: timedelta = timedelta(days=7)
    # Letter validity per route (NUANLIU_LETTER_VALIDITY_<ROUTE>).
    letter_validity: Mapping[str, timedelta] = field(default_factory=lambda: dict(LETTER_VALIDITY))
    letter_remind_before: timedelta = timedelta(days=7)
    # The stages of each route, in order (NUANLIU_TRANSFER_CHAIN_<ROUTE>).
    transfer_chains: Mapping[str, str] = field(default_factory=lambda: dict(CHAINS))

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        return {
            "letter_validity": {
                route: parse_duration(env[f"NUANLIU_LETTER_VALIDITY_{route.upper()}"])
                if f"NUANLIU_LETTER_VALIDITY_{route.upper()}" in env
                else default
                for route, default in LETTER_VALIDITY.items()
            },
            "transfer_chains": {
                route: env.get(f"NUANLIU_TRANSFER_CHAIN_{route.upper()}", default)
                for route, default in CHAINS.items()
            },
        }
