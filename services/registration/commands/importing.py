"""Import of existing member ledgers: all or nothing, or a dry run that only reports.

The file was parsed and each row checked against the schema by services.registration.imports;
here are the rules that need the register (the branch, ID numbers already registered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from services.registration import domain
from services.registration.commands.common import branch_or_422
from services.registration.commands.registry import DUPLICATE, member_created, new_member_row
from services.registration.models import Org
from services.registration.unit_of_work import RegistrationUnitOfWork
from shared import clock
from shared.audit import OrgScope
from shared.auth import Principal
from shared.contracts.registration import MEMBER_CREATED
from shared.errors import InvalidInput

Row = tuple[int, dict[str, Any]]
RowError = dict[str, Any]


class ImportRejected(InvalidInput):
    """A real import with any bad row: nothing is written; every row's problems are reported."""

    def __init__(self, rows: list[RowError]) -> None:
        super().__init__(
            f"{len({r['row'] for r in rows})} rows have errors; nothing was imported", field="file"
        )
        self.rows = rows


@dataclass(frozen=True)
class ImportMembers:
    branch_code: str
    rows: int
    valid: list[Row]
    errors: list[RowError]
    dry_run: bool


@dataclass(frozen=True)
class DryRunResult:
    rows: int
    valid: int
    existing: int
    errors: list[RowError]


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created: int
    existing: int
    errors: list[RowError] = field(default_factory=list)


def _error(row: int, field_name: str, message: str) -> RowError:
    return {"row": row, "field": field_name, "message": message}


def _screen(valid: list[Row], today: date, errors: list[RowError]) -> list[Row]:
    """The rows that keep the member rules and do not repeat an earlier row's ID number; the
    others are added to `errors`."""
    candidates: list[Row] = []
    seen: dict[str, int] = {}
    for number, data in valid:
        try:
            domain.check_new_member(_new_member(data), today)
        except InvalidInput as problem:
            errors.append(_error(number, problem.field or "row", problem.message))
            continue
        if data["id_number"] in seen:
            errors.append(_error(number, "id_number", f"repeats row {seen[data['id_number']]}"))
            continue
        seen[data["id_number"]] = number
        candidates.append((number, data))
    return candidates


def _new_member(data: dict[str, Any]) -> domain.NewMember:
    return domain.NewMember(**{key: data[key] for key in domain.NewMember.__dataclass_fields__})


def _fresh(
    candidates: list[Row],
    registered: dict[str, str],
    branch: Org,
    scope: Callable[[str], bool],
    errors: list[RowError],
) -> tuple[list[dict[str, Any]], int]:
    """The rows not registered yet, and how many are registered at this branch already (a
    re-import skips them); one registered elsewhere is an error that does not say where. Only
    registrations for which `scope(branch_path)` holds are reported (a dry run reports those in the
    caller's scope: it must not tell whether a national ID is registered anywhere)."""
    fresh: list[dict[str, Any]] = []
    existing = 0
    for number, data in candidates:
        holder = registered.get(data["id_number"])
        if holder == branch.path:
            existing += 1
        elif holder is not None and scope(holder):
            errors.append(_error(number, "id_number", DUPLICATE))
        else:
            fresh.append(data)
    return fresh, existing


def check_import_scope(uow: RegistrationUnitOfWork, actor: Principal, branch_code: str) -> None:
    """The branch exists and the caller acts for it: checked before the upload is even read."""
    with uow:
        branch = branch_or_422(uow.orgs, branch_code, "branch", location="query")
        domain.require_scope(actor, branch.path, "import members")


def import_members(
    uow: RegistrationUnitOfWork, actor: Principal, command: ImportMembers
) -> DryRunResult | ImportResult:
    """All or nothing; a row whose id_number is already registered at this branch is skipped,
    so importing the same file again creates nothing new. A dry run writes nothing."""
    errors = list(command.errors)
    now = clock.utcnow()
    with uow:
        branch = branch_or_422(uow.orgs, command.branch_code, "branch", location="query")
        domain.require_scope(actor, branch.path, "import members")
        candidates = _screen(command.valid, clock.local_today(now), errors)
        registered = uow.members.branch_paths_of_id_numbers([data["id_number"] for _, data in candidates])
        scope = partial(domain.acts_for, actor) if command.dry_run else lambda path: True
        fresh, existing = _fresh(candidates, registered, branch, scope, errors)
        errors.sort(key=lambda error: (error["row"], error["field"]))
        if command.dry_run:
            bad_rows = len({error["row"] for error in errors})
            return DryRunResult(command.rows, command.rows - bad_rows, existing, errors)
        if errors:
            raise ImportRejected(errors)
        members = [new_member_row(_new_member(data), branch, now, uow.id_hash_key) for data in fresh]
        uow.members.add_rows(members)
        # The entries' org given, not looked up: 10,000 rows added by one insert are no ORM rows.
        about = OrgScope(branch.code, branch.path)
        for member in members:
            member_id, name = str(member["id"]), str(member["name"])
            uow.emit(MEMBER_CREATED, member_id, member_created(member_id, name, branch))
            uow.audit(actor, "import", "member", member_id, org=about)
        uow.commit()
        return ImportResult(command.rows, len(members), existing)
