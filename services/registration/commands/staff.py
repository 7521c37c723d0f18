"""Use cases of the staff directory: assign a person a role in an org, and remove it.

Managed by an `org_department` above the org (strictly: a department does not appoint its own
peers) and by admins; the role must fit the org's level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.registration import domain
from services.registration.models import Org, StaffAssignment
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.auth import Principal
from shared.contracts.registration import STAFF_ASSIGNED, STAFF_REMOVED
from shared.db import new_id
from shared.errors import Conflict, Forbidden, NotFound


@dataclass(frozen=True)
class AssignStaff:
    org_code: str
    subject: str
    name: str
    role: str


@dataclass(frozen=True)
class RemoveStaff:
    org_code: str
    staff_id: str


def may_manage_staff(actor: Principal, org: Org) -> bool:
    """An admin, or an org department of an org strictly above `org`."""
    if actor.is_admin:
        return True
    return actor.role == "org_department" and actor.org != org.code and f"/{actor.org}/" in org.path


def _org_in_reach(uow: RegistrationUnitOfWork, actor: Principal, code: str) -> Org:
    org = uow.orgs.get(code)
    if org is None:
        raise NotFound(f"org {code} does not exist")
    if not may_manage_staff(actor, org):
        raise Forbidden("only an org department above the org, or an admin, manages its staff")
    return org


def _event(assignment: StaffAssignment, org: Org) -> dict[str, Any]:
    return {
        "staff_id": assignment.id,
        "org_code": org.code,
        "org_path": org.path_codes,
        "subject": assignment.subject,
        "name": assignment.name,
        "role": assignment.role,
    }


def assign_staff(uow: RegistrationUnitOfWork, actor: Principal, command: AssignStaff) -> StaffAssignment:
    with uow:
        org = _org_in_reach(uow, actor, command.org_code)
        domain.check_staff_role_fits(command.role, org.level)
        if uow.staff.find(org.code, command.subject, command.role) is not None:
            raise Conflict(f"{command.subject} already is {command.role} of {org.code}", field="subject")
        assignment = StaffAssignment(
            id=new_id(),
            org_code=org.code,
            subject=command.subject,
            name=command.name,
            role=command.role,
            assigned_by=actor.sub,
            created_at=clock.utcnow(),
        )
        uow.staff.add(assignment)
        uow.emit(STAFF_ASSIGNED, org.code, _event(assignment, org))
        uow.audit(actor, "assign", "staff", assignment.id, f"{org.code} {command.role}")
        uow.commit()
        return assignment


def remove_staff(uow: RegistrationUnitOfWork, actor: Principal, command: RemoveStaff) -> None:
    with uow:
        org = _org_in_reach(uow, actor, command.org_code)
        assignment = uow.staff.get(command.staff_id)
        if assignment is None or assignment.org_code != org.code:
            raise NotFound(f"no staff assignment {command.staff_id} in {org.code}")
        uow.emit(STAFF_REMOVED, org.code, _event(assignment, org))
        uow.audit(actor, "remove", "staff", assignment.id, f"{org.code} {assignment.role}")
        uow.staff.remove(assignment)
        uow.commit()
