"""Outbound clients of the transfer service: the registration service, and Temporal.

`Registration` is the registration service as the transfer service sees it (the internal
contract over HTTP). `TransferProcesses` is the gateway to the transfers' Temporal workflows: it
starts a run (and, when the answer to a start is lost, finds out whether it happened) and sends
the updates, turning Temporal's refusals into the API's errors.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.transfer import caller_proof, search_attributes
from services.transfer.domain import RouteSide
from services.transfer.messages import (
    CancelRequest,
    DecisionRequest,
    ReportRequest,
    ResubmitRequest,
    TransferInput,
)
from services.transfer.workflows import TransferWorkflow
from shared.errors import Conflict, InvalidInput, NotFound, Unavailable
from shared.orgs import OrgDirectory, ServiceClient, credentials_of
from shared.settings import Settings
from shared.temporal import TemporalGateway

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberInfo:
    id: str
    name: str
    branch_code: str
    dues_paid_through: str | None
    # The approver's summary (issue 21), from the masked record: no ID number, no phone.
    gender: str | None = None
    status: str | None = None
    birth_year: int | None = None
    joined_on: str | None = None


@dataclass(frozen=True)
class Route:
    route: str
    sending: RouteSide
    receiving: RouteSide


class MoveRejected(Exception):
    """Registration refused the move for a reason a retry cannot fix (404, 409, 422)."""


class RelationshipMover(Protocol):
    def move_relationship(self, member_id: str, branch_code: str, transfer_id: str) -> dict[str, Any]: ...


class Registration:
    """Calls registration with the service token; one per process (sessions are per thread)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.orgs = OrgDirectory(client)
        # A route is derived from the two branches' ancestors, which never change once created
        # (as the org paths OrgDirectory caches): a found route is kept for the process's life.
        self._routes: dict[tuple[str, str], Route] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Registration:
        credentials = credentials_of(settings, "transfer")
        return cls(ServiceClient(settings.url_of("registration"), credentials))

    def member(self, member_id: str) -> MemberInfo:
        # Masked: a transfer needs the member's name, branch and dues, never their ID or phone.
        response = self.client.request(
            "GET", f"/api/v1/members/{quote(member_id, safe='')}", params={"masked": "true"}
        )
        # 422: registration refused the id's format, so no member has it.
        if response.status_code in (404, 422):
            raise InvalidInput(f"member {member_id} does not exist", field="member_id")
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for a member")
        body = response.json()
        birth = str(body.get("birth_date") or "")
        return MemberInfo(
            body["id"],
            body["name"],
            body["branch_code"],
            body.get("dues_paid_through"),
            gender=body.get("gender"),
            status=body.get("status"),
            birth_year=int(birth[:4]) if birth[:4].isdigit() else None,
            joined_on=body.get("joined_on"),
        )

    def org_name(self, code: str | None) -> str | None:
        """An org's name from the cached directory; None when unknown (the event goes without)."""
        if not code:
            return None
        info = self.orgs.get(code)
        return info.name if info else None

    def org_names(self, codes: Iterable[str | None]) -> dict[str, str]:
        return {code: name for code in set(codes) if code and (name := self.org_name(code))}

    def route(self, from_branch: str, to_branch: str, to_field: str = "to_branch_code") -> Route:
        cached = self._routes.get((from_branch, to_branch))
        if cached is not None:
            return cached
        response = self.client.request(
            "GET", "/api/v1/orgs/route", params={"from": from_branch, "to": to_branch}
        )
        if response.status_code == 422:
            errors = (response.json().get("errors") or {}).get("query") or {}
            if "from" in errors:
                raise InvalidInput(f"the member's branch {from_branch} is not a branch", field="member_id")
            raise InvalidInput(f"{to_branch} is not an existing branch", field=to_field)
        if response.status_code != 200:
            raise Unavailable(f"registration answered {response.status_code} for a route")
        body = response.json()
        route = Route(body["route"], RouteSide.from_json(body["from"]), RouteSide.from_json(body["to"]))
        if len(self._routes) > 100_000:
            self._routes.clear()
        self._routes[(from_branch, to_branch)] = route
        return route

    def path(self, code: str) -> str:
        info = self.orgs.get(code)
        if info is None:
            raise NotFound(f"org {code} does not exist")
        return "/" + "/".join(info.path) + "/"

    def move_relationship(self, member_id: str, branch_code: str, transfer_id: str) -> dict[str, Any]:
        response = self.client.request(
            "POST",
            f"/api/v1/members/{quote(member_id, safe='')}/relationship",
            json={"branch_code": branch_code, "transfer_id": transfer_id},
        )
        if response.status_code == 200:
            return response.json()
        if response.status_code in (404, 409, 422):
            raise MoveRejected(
                f"registration refused the move ({response.status_code}): {response.text[:300]}"
            )
        raise Unavailable(f"registration answered {response.status_code} to the move")


# --- Temporal -----------------------------------------------------------------------------

# How often, and how far apart, a start whose answer was lost is looked for before it is given up.
START_CONFIRM_ATTEMPTS = 3
START_CONFIRM_PAUSE_SECONDS = 1.0


class ProcessNotStarted(Exception):
    """No run of the transfer's workflow could be started (and none was found running)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause_name = type(cause).__name__


class TransferProcesses:
    """The transfers' workflows (`transfer-<id>`), through the process's Temporal gateway."""

    def __init__(self, temporal: TemporalGateway, task_queue: str, proof_key: str) -> None:
        self.temporal = temporal
        self.task_queue = task_queue
        # Signs each update's caller proof; the worker holds the same key (caller_proof.py).
        self._proof_key = proof_key
        self._checked_at = 0.0
        self._reachable = False

    def reachable(self) -> bool:
        # A readiness probe per request would hammer Temporal: cache the answer a few seconds.
        now = time.monotonic()
        if now - self._checked_at > 5.0:
            self._reachable = self.temporal.reachable()
            self._checked_at = now
        return self._reachable

    # --- starting a run -------------------------------------------------------------------

    def start(self, workflow_input: TransferInput, status: str, stage_org: str | None) -> None:
        """Start the first run; a start whose answer was lost counts if the run is found.

        Raises ProcessNotStarted when no run exists: the caller then ends the projection."""
        try:
            self._start_run(workflow_input, status, stage_org)
        except Exception as error:
            if self._started(workflow_input.transfer_id):
                # The process runs: failing the projection now would free the member for a second
                # transfer while this one goes on.
                log.warning(
                    "the start of transfer %s was not confirmed, but its workflow runs",
                    workflow_input.transfer_id,
                )
                return
            log.exception("could not start the workflow of transfer %s", workflow_input.transfer_id)
            raise ProcessNotStarted(error) from error

    def start_reissue(self, workflow_input: TransferInput, status: str) -> None:
        """A new run of `transfer-<id>` (the expired run has closed) that re-issues the letter."""
        try:
            self._start_run(workflow_input, status, None)
        except Exception as error:
            log.exception("could not start the re-issue of transfer %s", workflow_input.transfer_id)
            raise ProcessNotStarted(error) from error

    def _start_run(self, workflow_input: TransferInput, status: str, stage_org: str | None) -> None:
        """Start a run of `transfer-<id>`, with the search attributes of the status it starts in."""
        pairs = [
            SearchAttributePair(search_attributes.TRANSFER_STATUS, status),
            SearchAttributePair(search_attributes.SENDING_BRANCH, workflow_input.from_branch_code),
            SearchAttributePair(search_attributes.RECEIVING_BRANCH, workflow_input.plan.to_branch_code),
        ]
        if stage_org:  # a letter waiting for the report-in is held by no org: leave the key unset
            pairs.append(SearchAttributePair(search_attributes.CURRENT_STAGE_ORG, stage_org))
        attributes = TypedSearchAttributes(pairs)

        async def start(client: Client) -> None:
            # The id makes the start idempotent: a retried request finds the running workflow (a
            # closed one, as after expiry, gets a new run).
            await client.start_workflow(
                TransferWorkflow.run,
                workflow_input,
                id=f"transfer-{workflow_input.transfer_id}",
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                search_attributes=attributes,
            )

        self.temporal.call(start, timeout=15.0)

    def _started(self, transfer_id: str) -> bool:
        """Does `transfer-<id>` exist? A start whose answer was lost (a timeout) may have succeeded.

        Only "not found" is a definite no. A server too slow to answer the start is often too slow
        to answer at once, so an inconclusive answer is asked again a few times before giving up."""

        async def describe(client: Client) -> object:
            return await client.get_workflow_handle(f"transfer-{transfer_id}").describe()

        for attempt in range(START_CONFIRM_ATTEMPTS):
            if attempt:
                time.sleep(START_CONFIRM_PAUSE_SECONDS * attempt)
            try:
                self.temporal.call(describe, timeout=10.0)
                return True
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    return False
            except Exception:  # unreachable or slow: the start cannot be confirmed yet
                log.warning("could not yet tell whether transfer %s started", transfer_id)
        return False

    # --- updates ----------------------------------------------------------------------------

    def decide(self, transfer_id: str, request: DecisionRequest) -> None:
        self._update(transfer_id, TransferWorkflow.decide, request)

    def resubmit(self, transfer_id: str, request: ResubmitRequest) -> None:
        self._update(transfer_id, TransferWorkflow.resubmit, request)

    def cancel(self, transfer_id: str, request: CancelRequest) -> None:
        self._update(transfer_id, TransferWorkflow.cancel, request)

    def report(self, transfer_id: str, request: ReportRequest) -> None:
        # The update returns once the relationship has moved (or the move was refused).
        self._update(transfer_id, TransferWorkflow.report, request, timeout=60.0)

    def _update(self, transfer_id: str, update: Any, request: Any, timeout: float = 30.0) -> None:
        # The proof binds this update's id: a proof read from a history cannot sign another update.
        update_id = str(uuid.uuid4())
        request.proof = caller_proof.sign(
            self._proof_key, transfer_id, update_id, request.audit, int(time.time())
        )

        async def send(client: Client) -> Any:
            handle = client.get_workflow_handle(f"transfer-{transfer_id}")
            return await handle.execute_update(update, request, id=update_id)

        self._call(send, timeout)

    def _call(self, operation: Callable[[Client], Awaitable[T]], timeout: float) -> T:
        """Call Temporal; a refused update becomes the matching 409 or 422."""
        try:
            return self.temporal.call(operation, timeout=timeout)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
            if isinstance(cause, ApplicationError) and cause.type == "InvalidInput":
                raise InvalidInput(message, field="decision") from error
            if isinstance(cause, ApplicationError) and cause.type == "Forbidden":
                # Our own proof refused: the API and worker keys differ. An operator's fault.
                log.error("the transfer worker refused the API's caller proof: %s", message)
                raise Unavailable("the transfer process refused the request; try again later") from error
            raise Conflict(message) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise Conflict("the transfer's process has already finished") from error
            raise Unavailable(f"Temporal refused the call: {error.message}") from error
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:
            # Seen while the Temporal server restarts: the update may or may not land; retry later.
            raise Unavailable("Temporal did not confirm the update in time; try again") from error
