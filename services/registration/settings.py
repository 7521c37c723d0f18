"""The registration service's own knobs (what all services share is `shared.settings.Settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from shared.settings import Settings


@dataclass(frozen=True)
class RegistrationSettings(Settings):
    SERVICE: ClassVar[str] = "registration"
    ENV: ClassVar[Mapping[str, str]] = {
        **Settings.ENV,
        "lost_contact_days": "NUANLIU_LOST_CONTACT_DAYS",
        "qr_ttl": "NUANLIU_QR_TTL",
    }

    service: str = "registration"
    # Days without contact before a member is flagged lost (the daily sweep).
    lost_contact_days: int = 180
    # How long a station's screen code stays valid (a poster's lasts until the key is rotated).
    qr_ttl: timedelta = timedelta(seconds=120)
