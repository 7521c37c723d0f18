"""The tasks unit of work: the tasks database, its outbox and audit log, its repositories,
and what the use cases read from registration (the org tree, members' branches).

One unit per request or activity call: it holds the open session, so it is never shared
between threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self

from sqlalchemy.orm import Session

from services.tasks.access import OrgLookup
from services.tasks.clients import MemberLookup, RegistrationMembers
from services.tasks.models import Task, audit_log, outbox
from services.tasks.repositories import (
    AwardRepository,
    ClaimRepository,
    EvaluationRepository,
    LeadRepository,
    ProgressRepository,
    TaskRepository,
)
from shared.audit import OrgScope
from shared.db import Database
from shared.orgs import ServiceClient
from shared.uow import SqlUnitOfWork

DEFAULT_MAX_LED_OPEN_TASKS = 5


@dataclass(frozen=True)
class TaskReads:
    """Repositories on a read-only snapshot, outside the unit's transaction."""

    tasks: TaskRepository
    claims: ClaimRepository
    leads: LeadRepository
    evaluations: EvaluationRepository

    @classmethod
    def on(cls, session: Session, max_led_open_tasks: int) -> TaskReads:
        return cls(
            TaskRepository(session),
            ClaimRepository(session),
            LeadRepository(session, max_led_open_tasks),
            EvaluationRepository(session),
        )


class TasksUnitOfWork(SqlUnitOfWork):
    tasks: TaskRepository
    claims: ClaimRepository
    leads: LeadRepository
    progress: ProgressRepository
    evaluations: EvaluationRepository
    awards: AwardRepository

    def __init__(
        self,
        database: Database,
        orgs: OrgLookup | None = None,
        members: MemberLookup | None = None,
        max_led_open_tasks: int = DEFAULT_MAX_LED_OPEN_TASKS,
    ) -> None:
        super().__init__(database, outbox, audit_log)
        self._orgs = orgs
        self._members = members
        self.max_led_open_tasks = max_led_open_tasks

    @property
    def orgs(self) -> OrgLookup:
        if self._orgs is None:
            raise RuntimeError("this unit of work was opened without the org directory")
        return self._orgs

    @property
    def members(self) -> MemberLookup:
        if self._members is None:
            raise RuntimeError("this unit of work was opened without registration's members")
        return self._members

    @property
    def single_writer(self) -> bool:
        """SQLite: one writer at a time, so refusals are best found on a snapshot first."""
        return self.database.is_sqlite

    def __enter__(self) -> Self:
        super().__enter__()
        session = self.session
        self.tasks = TaskRepository(session)
        self.claims = ClaimRepository(session)
        self.leads = LeadRepository(session, self.max_led_open_tasks)
        self.progress = ProgressRepository(session)
        self.evaluations = EvaluationRepository(session)
        self.awards = AwardRepository(session)
        return self

    def audit_scope(self, object_type: str, object_id: str) -> OrgScope | None:
        """A task's entries belong to its township."""
        if object_type != "task":
            return None
        task = self.session.get(Task, object_id)
        return OrgScope(task.org_code, task.org_path) if task else None

    @contextmanager
    def reading(self) -> Iterator[TaskReads]:
        """Reads on a snapshot, without the write lock (SQLite) or a writer transaction."""
        with self.database.reader() as session:
            yield TaskReads.on(session, self.max_led_open_tasks)


@dataclass
class TasksDeps:
    """What the tasks API is wired with: its database, registration, and the limits."""

    database: Database
    orgs: OrgLookup
    registration: ServiceClient
    max_led_open_tasks: int = DEFAULT_MAX_LED_OPEN_TASKS

    def unit_of_work(self) -> TasksUnitOfWork:
        return TasksUnitOfWork(
            self.database,
            orgs=self.orgs,
            members=RegistrationMembers(self.registration),
            max_led_open_tasks=self.max_led_open_tasks,
        )
