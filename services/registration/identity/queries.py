"""Reads of identity: an org's staff, the member a proven phone signs in as."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.registration.commands.staff import may_manage_staff
from services.registration.identity.tokens import Grant
from services.registration.models import Member, Org, StaffAssignment
from shared.auth import Principal
from shared.db import Database
from shared.errors import Forbidden, NotFound, Unauthorized


def list_staff(database: Database, principal: Principal, code: str) -> dict[str, Any]:
    with database.reader() as session:
        org = session.get(Org, code)
        if org is None:
            raise NotFound(f"org {code} does not exist")
        if not may_manage_staff(principal, org):
            raise Forbidden("only an org department above the org, or an admin, reads its staff")
        rows = session.scalars(
            select(StaffAssignment).where(StaffAssignment.org_code == code).order_by(StaffAssignment.id)
        ).all()
        # Plain rows: the reader's session expires its objects when it closes.
        fields = ("id", "org_code", "subject", "name", "role")
        return {"items": [{name: getattr(row, name) for name in fields} for row in rows]}


def member_grant(database: Database, member_id: str) -> Grant:
    with database.reader() as session:
        member = session.get(Member, member_id)
        if member is None:
            raise Unauthorized("wrong or expired code")
        return Grant(sub=member.id, role="member", org=member.branch_code, name=member.name)
