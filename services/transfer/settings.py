"""The transfer service's own knobs (what all services share is `shared.settings.Settings`).

Time limits come from practice (docs/domain.md) and are all configurable, so tests shrink days
into seconds; the approval chain of each route is configuration, not code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from shared.settings import Settings, SettingsError, development_secret, parse_duration

PROOF_KEY_FILE = "transfer-proof.key"

ROUTES = ("same_county", "cross_county", "cross_province")
LETTER_VALIDITY = {
    "same_county": timedelta(days=30),
    "cross_county": timedelta(days=90),
    "cross_province": timedelta(days=180),
}
CHAINS = {
    "same_county": "sending_branch,township,receiving_branch",
    "cross_county": "sending_branch,township,county,receiving_branch",
    # Issue 21: the receiving side's county org department approves before its branch.
    "cross_province": "sending_branch,township,county,receiving_county,receiving_branch",
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
        "transfer_proof_key": "NUANLIU_TRANSFER_PROOF_KEY",
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
    # The key of the caller proofs the API adds to workflow updates and the worker checks: only
    # these two hold it. Development generates one under var/ (shared by the local processes).
    transfer_proof_key: str = field(default="", repr=False)
    transfer_proof_key_generated: bool = field(default=False, repr=False)

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        key: dict[str, Any] = {}
        if (
            not env.get("NUANLIU_TRANSFER_PROOF_KEY")
            and env.get("NUANLIU_ENV", "development") != "production"
        ):
            key = {"transfer_proof_key": development_proof_key(var_dir), "transfer_proof_key_generated": True}
        return key | {
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

    def check(self) -> None:
        super().check()
        if self.transfer_proof_key and len(self.transfer_proof_key.encode()) < 32:
            raise SettingsError("NUANLIU_TRANSFER_PROOF_KEY must be at least 32 bytes")

    def development_defaults(self) -> list[str]:
        found = super().development_defaults()
        if not self.transfer_proof_key:
            found.append("NUANLIU_TRANSFER_PROOF_KEY is unset")
        elif self.transfer_proof_key_generated:
            found.append("NUANLIU_TRANSFER_PROOF_KEY is the development key under var/")
        return found


def development_proof_key(var_dir: Path) -> str:
    """The development proof key at `var/transfer-proof.key` (0600), made on first use."""
    return development_secret(var_dir, PROOF_KEY_FILE)
