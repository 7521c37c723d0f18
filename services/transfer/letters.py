"""The introduction letter as paper (issue 20): its particulars, its PDF, and its verification.

Reading a letter PDF reads the member's full particulars from registration (with the service
token; registration audits that read) and is audited here as `read_letter`. No database session
is open while registration answers or while the PDF renders: the projection row is read in a
snapshot that closes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Row, select

from services.transfer import letter_store
from services.transfer.clients import Registration
from services.transfer.letter_codes import LetterCodes
from services.transfer.models import Transfer, audit_log, outbox
from shared.audit import OrgScope
from shared.auth import ORG_ROLES, Principal
from shared.clock import local_today
from shared.db import Database
from shared.documents import DocumentLoader, render_pdf
from shared.errors import Conflict, Forbidden, NotFound, Unavailable
from shared.uow import SqlUnitOfWork

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOADER = DocumentLoader(TEMPLATES)
GENDERS = {"male": "男", "female": "女"}
STATUSES = {"full": "正式党员", "probationary": "预备党员"}


@dataclass
class LetterDeps:
    """What the letter endpoints talk to; one per process, in the service context's extras."""

    database: Database
    registration: Registration
    codes: LetterCodes


@dataclass(frozen=True)
class MemberParticulars:
    name: str
    gender: str
    age: int
    status: str
    id_number: str


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def mask_name(name: str) -> str:
    """朱* for 朱明: the surname shows, the rest does not (a public answer names no one)."""
    return name[:1] + "*" * max(1, len(name) - 1)


def issuing_county(number: str) -> str:
    """The county committee whose serial the letter carries: `TJ-WQ-2026-000002` → `TJ-WQ`."""
    return number.rsplit("-", 2)[0]


def may_read_letter(principal: Principal, transfer: Any) -> bool:
    """API.md: the member, the secretaries of both branches, and the orgs above either."""
    if principal.is_admin:
        return True
    if principal.role == "member":
        return principal.sub == transfer.member_id
    mark = f"/{principal.org}/"
    return principal.role in ORG_ROLES and (mark in transfer.from_path or mark in transfer.to_path)


def member_particulars(registration: Registration, member_id: str, on: date) -> MemberParticulars:
    """The full record, read with the service token: registration audits it as a full read."""
    response = registration.client.request("GET", f"/api/v1/members/{quote(member_id, safe='')}")
    if response.status_code != 200:
        raise Unavailable(f"registration answered {response.status_code} for the member's particulars")
    body = response.json()
    return MemberParticulars(
        name=body["name"],
        gender=GENDERS.get(body["gender"], body["gender"]),
        age=age_on(date.fromisoformat(body["birth_date"]), on),
        status=STATUSES.get(body["status"], body["status"]),
        id_number=body["id_number"],
    )


def org_name(registration: Registration, code: str) -> str:
    info = registration.orgs.get(code)
    return info.name if info is not None else code


def _transfer_row(database: Database, transfer_id: str) -> Row[Any]:
    with database.snapshot() as connection:
        row = connection.execute(select(Transfer.__table__).where(Transfer.id == transfer_id)).first()
    if row is None:
        raise NotFound(f"transfer {transfer_id} does not exist")
    return row


def letter_context(deps: LetterDeps, transfer: Any, with_qr: bool = True) -> dict[str, Any]:
    """Everything the three parts print; calls registration, so no session may be open."""
    number: str = transfer.letter_number
    issued_on: date = transfer.letter_issued_on
    dues = transfer.letter_dues_paid_through or "----"
    url = deps.codes.verification_url(number)
    return {
        "number": number,
        "issued_on": issued_on,
        "valid_until": transfer.letter_valid_until,
        "validity_days": (transfer.letter_valid_until - issued_on).days,
        "dues_year": dues[:4],
        "dues_month": dues[5:7].lstrip("0") or dues[5:7],
        "member": member_particulars(deps.registration, transfer.member_id, issued_on),
        "issuing_org_name": org_name(deps.registration, issuing_county(number)),
        "sending_org_name": org_name(deps.registration, transfer.from_branch_code),
        "receiving_org_name": org_name(deps.registration, transfer.to_branch_code),
        "verification_url": url,
        "verify_hint": url.split("?", 1)[0],
        "with_qr": with_qr,
    }


def letter_pdf(deps: LetterDeps, principal: Principal, transfer_id: str) -> tuple[str, bytes]:
    """(letter number, A4 PDF of its three parts). 409 before the letter is issued."""
    transfer = _transfer_row(deps.database, transfer_id)
    if not may_read_letter(principal, transfer):
        raise Forbidden("this transfer's letter is outside your scope")
    if transfer.letter_number is None:
        raise Conflict(f"no letter has been issued yet; the transfer is {transfer.status}")
    context = letter_context(deps, transfer)
    uow = SqlUnitOfWork(deps.database, outbox, audit_log)
    with uow:
        # The letter's entry belongs to the sending branch, as the transfer's others do.
        org = OrgScope(transfer.from_branch_code, transfer.from_path)
        uow.audit(principal, "read_letter", "transfer", transfer_id, transfer.letter_number, org=org)
        uow.commit()
    return transfer.letter_number, render_pdf(LOADER, "letter.html", context)


def verify(deps: LetterDeps, number: str, code: str) -> dict[str, Any]:
    """The public answer for a letter in someone's hand. Unknown number and wrong code are the same
    404, so the endpoint tells nobody which serials exist."""
    if not deps.codes.matches(number, code):
        raise NotFound("no letter with this number and code")
    with deps.database.snapshot() as connection:
        letter = letter_store.find(connection, number)
    if letter is None:
        raise NotFound("no letter with this number and code")
    return {
        "number": letter.number,
        "status": letter_store.status_of(letter, local_today()),
        "issued_on": letter.issued_on,
        "valid_until": letter.valid_until,
        "issuing_org_name": org_name(deps.registration, issuing_county(letter.number)),
        "receiving_org_name": org_name(deps.registration, letter.to_branch_code),
        "member_name_masked": mask_name(letter.member_name),
    }
