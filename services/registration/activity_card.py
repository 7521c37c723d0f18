"""The 流动党员活动证 of a member's open outflow, as an A4 PDF (issue 20).

`GET /api/v1/members/{id}/activity-card.pdf` — the member, or a secretary of their branch or an
org above it. 409 when the member has no open outflow (never reported out, or back home / moved
since). The read carries the full particulars and is audited as `read_activity_card`. The data
is loaded in one short read, the audit written, and only then the PDF rendered (no session open).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import Response
from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration.models import Inflow, Member, Org, Outflow, audit_log, outbox
from shared.auth import ORG_ROLES, Principal
from shared.clock import local_date
from shared.db import Database
from shared.documents import DocumentLoader, render_pdf
from shared.errors import Conflict, Forbidden, NotFound
from shared.uow import SqlUnitOfWork
from shared.web import Blueprint, authenticated, context

PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOADER = DocumentLoader(TEMPLATES)
GENDERS = {"male": "男", "female": "女"}
STATUSES = {"full": "正式党员", "probationary": "预备党员"}
ACTIVITY_ROWS = 8  # blank rows for the organisational life attended away from home
REVIEW_ROWS = 3  # blank rows for the annual review (年度审核)

activity_cards = Blueprint(
    "activity_cards", __name__, url_prefix="/api/v1/members", description="流动党员活动证 (PDF)"
)


@dataclass(frozen=True)
class CardData:
    """Everything the card prints, copied out of the session."""

    card_no: str
    name: str
    gender: str
    birth_date: date
    status: str
    id_number: str
    joined_on: date
    dues_paid_through: str
    home_branch_name: str
    destination_region: str
    destination_address: str
    occupation: str
    employer: str | None
    contact_phone: str
    departed_on: date
    expected_return_on: date | None
    inflow_branch_name: str | None
    contact_person: str | None
    issued_on: date


def may_read_card(principal: Principal, member: Member) -> bool:
    """API.md: the member, or a secretary of their branch or an org above it."""
    if principal.is_admin:
        return True
    if principal.role == "member":
        return principal.sub == member.id
    return principal.role in ORG_ROLES and f"/{principal.org}/" in member.branch_path


def _org_name(session: Session, code: str) -> str:
    org = session.get(Org, code)
    return org.name if org is not None else code


def _open_outflow(session: Session, member: Member) -> Outflow | None:
    """The outflow whose card the member still carries: mobile, and the card the member holds."""
    if not member.mobile or member.activity_card_no is None:
        return None
    return session.scalars(
        select(Outflow)
        .where(Outflow.member_id == member.id, Outflow.activity_card_no == member.activity_card_no)
        .order_by(Outflow.created_at.desc())
        .limit(1)
    ).first()


def load_card(session: Session, principal: Principal, member_id: str) -> CardData:
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound(f"member {member_id} does not exist")
    if not may_read_card(principal, member):
        raise Forbidden("this member's activity card is outside your scope")
    outflow = _open_outflow(session, member)
    if outflow is None:
        raise Conflict("the member has no open outflow, so no activity card")
    inflow = session.scalars(
        select(Inflow)
        .where(Inflow.member_id == member.id, Inflow.created_at >= outflow.created_at)
        .order_by(Inflow.created_at.desc())
        .limit(1)
    ).first()
    return CardData(
        card_no=outflow.activity_card_no,
        name=member.name,
        gender=GENDERS.get(member.gender, member.gender),
        birth_date=member.birth_date,
        status=STATUSES.get(member.status, member.status),
        id_number=member.id_number,
        joined_on=member.joined_on,
        dues_paid_through=member.dues_paid_through,
        home_branch_name=_org_name(session, outflow.branch_code),
        destination_region=outflow.destination_region,
        destination_address=outflow.destination_address,
        occupation=outflow.occupation,
        employer=outflow.employer,
        contact_phone=outflow.contact_phone,
        departed_on=outflow.departed_on,
        expected_return_on=outflow.expected_return_on,
        inflow_branch_name=_org_name(session, inflow.branch_code) if inflow else None,
        contact_person=inflow.contact_person if inflow else None,
        issued_on=local_date(outflow.created_at),  # the card was issued with the outflow
    )


def activity_card_pdf(database: Database, principal: Principal, member_id: str) -> tuple[str, bytes]:
    """(card number, PDF). The audit commits with the read; the render runs after both closed."""
    uow = SqlUnitOfWork(database, outbox, audit_log)
    with uow:
        card = load_card(uow.session, principal, member_id)
        uow.audit(principal, "read_activity_card", "member", member_id, card.card_no)
        uow.commit()
    context_: dict[str, Any] = {
        "card": card,
        "activity_rows": range(ACTIVITY_ROWS),
        "review_rows": range(REVIEW_ROWS),
    }
    return card.card_no, render_pdf(LOADER, "activity_card.html", context_)


@activity_cards.route("/<string:member_id>/activity-card.pdf")
class ActivityCardPdf(MethodView):
    @authenticated()
    @activity_cards.response(200, description="A4 PDF: the 流动党员活动证 of the open outflow")
    @activity_cards.doc(
        responses={"200": {"description": "A4 PDF: the 流动党员活动证 of the open outflow", "content": PDF}}
    )
    @activity_cards.alt_response(409, response="DEFAULT_ERROR")
    def get(self, member_id: str, principal: Principal) -> Response:
        """The member's activity card (the member, a secretary of their branch or above). Audited."""
        card_no, pdf = activity_card_pdf(context().database, principal, member_id)
        response = Response(pdf, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="activity-card-{card_no}.pdf"'
        response.headers["Cache-Control"] = "no-store"
        return response
