"""SMS sign-in codes for members: 6 digits, valid 5 minutes, stored hashed, void after 5 wrong
tries; at most 1 request a minute and 5 an hour per phone.

A request for any well-formed phone is answered the same way (and counted the same way) whether
or not a member has it, so the endpoint is no membership oracle.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from services.registration.domain import PHONE
from services.registration.models import Member, OneTimeCode
from services.registration.settings import RegistrationSettings
from shared.db import Database, new_id, utcnow
from shared.errors import InvalidInput, Unauthorized, Unavailable
from shared.sms import AliyunSmsClient, SmsError

log = logging.getLogger(__name__)

VALIDITY = timedelta(minutes=5)
MAX_FAILURES = 5
# (window, requests allowed in it) per phone.
LIMITS = ((timedelta(minutes=1), 1), (timedelta(hours=1), 5))


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def _keyed(settings: RegistrationSettings, text: str) -> str:
    return hmac.new(settings.otp_pepper.encode(), text.encode(), hashlib.sha256).hexdigest()


def _check_phone(phone: str) -> str:
    phone = phone.strip()
    if not PHONE.match(phone):
        raise InvalidInput("phone must be an 11-digit mobile number", field="phone")
    return phone


def _retry_after(times: list[datetime], now: datetime) -> int:
    """Seconds until every window has room again, or 0 when a request may go now."""
    wait = 0.0
    for window, allowed in LIMITS:
        recent = sorted(at for at in times if at > now - window)
        if len(recent) >= allowed:
            wait = max(wait, (recent[-allowed] + window - now).total_seconds())
    return int(wait) + 1 if wait > 0 else 0


def request_code(database: Database, settings: RegistrationSettings, phone: str) -> str | None:
    """Record a request; send a code if a member has the phone. Raises RateLimited.
    Returns the code only so that development delivery can write it; callers never answer it."""
    phone = _check_phone(phone)
    if settings.sms_provider == "disabled":
        # The same answer for every phone: no oracle, and no code stored that nobody could get.
        raise Unavailable("SMS sign-in is not available here: sign in through the organisation's provider")
    now = utcnow()
    phone_hash = _keyed(settings, phone)
    with database.transaction() as session:
        times = session.scalars(
            select(OneTimeCode.created_at).where(
                OneTimeCode.phone_hash == phone_hash, OneTimeCode.created_at > now - timedelta(hours=1)
            )
        ).all()
        wait = _retry_after(list(times), now)
        if wait:
            raise RateLimited(wait)
        member = session.scalar(select(Member).where(Member.phone == phone).order_by(Member.id).limit(1))
        code = f"{secrets.randbelow(1_000_000):06d}" if member else None
        row_id = new_id()
        session.add(
            OneTimeCode(
                id=row_id,
                phone_hash=phone_hash,
                member_id=member.id if member else None,
                code_hash=_keyed(settings, f"{row_id}:{code}") if code else None,
                failed_attempts=0,
                used=False,
                created_at=now,
                expires_at=now + VALIDITY,
            )
        )
    if code:
        deliver(settings, phone, code, row_id)
    return code


# Gateway sends leave the request: a member's phone must not answer slower than a stranger's
# (a timing oracle), and a slow gateway must not hold a web thread.
_GATEWAY_SENDS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="otp-sms")
_CLIENTS: dict[tuple[str, str, str, str, str], AliyunSmsClient] = {}


def deliver(settings: RegistrationSettings, phone: str, code: str, reference: str) -> None:
    """The code to the member's phone: through the SMS gateway (`NUANLIU_SMS_PROVIDER=aliyun`,
    template `otp` with the variable `code`), or in development as one JSON line in the file
    notify's development SMS provider writes."""
    if settings.sms_provider == "aliyun":
        _GATEWAY_SENDS.submit(_send_through_gateway, settings, phone, code, reference)
        return
    path: Path = settings.sms_outbox_file
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"【暖流】登录验证码 {code}，5分钟内有效。请勿告诉他人。"
    line = json.dumps(
        {"at": utcnow().isoformat(), "to": phone, "text": text, "ref": f"otp:{reference}"}, ensure_ascii=False
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def _send_through_gateway(settings: RegistrationSettings, phone: str, code: str, reference: str) -> None:
    config = settings.sms_gateway()
    key = (config.url, config.access_key_id, config.access_key_secret, config.sign_name, config.region_id)
    client = _CLIENTS.get(key) or _CLIENTS.setdefault(key, AliyunSmsClient(config))
    template = settings.sms_template_codes()["otp"]
    try:
        client.send(phone, template, {"code": code}, out_id=f"otp-{reference}")
    except SmsError as error:  # the member asks again; never the phone or the code in a log
        log.warning("a sign-in code was not sent", extra={"reference": reference, "error": str(error)})
    except Exception:
        log.exception("a sign-in code was not sent", extra={"reference": reference})


def redeem(database: Database, settings: RegistrationSettings, phone: str, code: str) -> str:
    """The member id the code proves, or 401. A wrong code counts against the latest code only."""
    phone = _check_phone(phone)
    now = utcnow()
    with database.transaction() as session:
        row = session.scalar(
            select(OneTimeCode)
            .where(OneTimeCode.phone_hash == _keyed(settings, phone))
            .order_by(OneTimeCode.created_at.desc(), OneTimeCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None or row.code_hash is None or row.used:
            raise Unauthorized("wrong or expired code")
        if row.failed_attempts >= MAX_FAILURES or row.expires_at <= now:
            raise Unauthorized("wrong or expired code")
        matches = hmac.compare_digest(row.code_hash, _keyed(settings, f"{row.id}:{code.strip()}"))
        # The failure is counted in this transaction, which commits; the 401 is raised after it.
        if matches:
            row.used = True
        else:
            row.failed_attempts = row.failed_attempts + 1
        member_id = row.member_id
    if not matches or member_id is None:
        raise Unauthorized("wrong or expired code")
    return member_id


def count_requests(database: Database) -> int:
    with database.reader() as session:
        return int(session.scalar(select(func.count()).select_from(OneTimeCode)) or 0)
