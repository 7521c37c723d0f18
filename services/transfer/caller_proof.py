"""Caller proofs: the transfer workflow takes an action for a person only from the transfer API.

Anyone who can reach Temporal's frontend can send a workflow update, naming any actor. So the
API adds to every update that acts for a person a proof: an HMAC-SHA256, with a key only the API
and the worker hold (`NUANLIU_TRANSFER_PROOF_KEY`), over the transfer, the update's id, the
action, the actor's sub, role and org, and the time it was issued. The worker checks it in an
interceptor before the workflow's own validator runs, so a forged or altered update is rejected:
a rejected update leaves no event in the history, and nothing is applied or audited.

Why an interceptor: the key must stay out of histories (workflow inputs and update payloads are
stored there), so the workflow cannot be given it; validators cannot call activities; and
validators (with the interceptors around them) do not run on replay, so the check, which reads
the key and the activation's time, never affects determinism. The workflow's code is unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from services.transfer.messages import AuditItem, CallerProof, DecisionRequest

VERSION = "v1"
# How old (or, for clock skew between the API and Temporal, how far ahead) a proof may be.
FRESH_FOR_SECONDS = 300
# The updates that act for a person: every one needs a proof.
GUARDED_UPDATES = ("decide", "resubmit", "cancel", "report")


class ProofRefused(Exception):
    """The update carries no valid proof from the transfer API."""


def _mac(key: str, transfer_id: str, update_id: str, audit: AuditItem, issued_at: int) -> str:
    fields = (
        VERSION,
        transfer_id,
        update_id,
        audit.action,
        audit.actor,
        audit.actor_role,
        audit.actor_org or "",
        str(issued_at),
    )
    # Length-prefixed, so no field's content can shift the boundary with its neighbour.
    message = "".join(f"{len(value)}:{value};" for value in fields).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def expected_action(update: str, request: Any) -> str:
    """The audited action an update must name: a decision names its kind."""
    return f"decide:{request.decision}" if isinstance(request, DecisionRequest) else update


def sign(key: str, transfer_id: str, update_id: str, audit: AuditItem, issued_at: int) -> CallerProof:
    return CallerProof(issued_at, _mac(key, transfer_id, update_id, audit, issued_at), VERSION)


def verify(key: str, transfer_id: str, update_id: str, update: str, request: Any, now: datetime) -> None:
    """Raise ProofRefused unless `request` carries a fresh proof for exactly this caller and action."""
    proof: CallerProof | None = getattr(request, "proof", None)
    audit: AuditItem | None = getattr(request, "audit", None)
    if proof is None or audit is None:
        raise ProofRefused("the update carries no caller proof")
    if proof.version != VERSION:
        raise ProofRefused("unknown caller proof version")
    # The actor the workflow records (timeline, events) must be the one the proof names.
    if audit.actor != request.actor or audit.action != expected_action(update, request):
        raise ProofRefused("the update's actor or action differs from its proof")
    if abs(now.timestamp() - proof.issued_at) > FRESH_FOR_SECONDS:
        raise ProofRefused("the caller proof has expired")
    wanted = _mac(key, transfer_id, update_id, audit, proof.issued_at)
    if not hmac.compare_digest(wanted, proof.mac):
        raise ProofRefused("the caller proof does not match")


class CallerProofInterceptor(Interceptor):
    """Worker interceptor: the transfer workflow's updates that act for a person need a proof."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the transfer worker needs NUANLIU_TRANSFER_PROOF_KEY")
        self._key = key

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        key = self._key

        class CheckCallerProof(WorkflowInboundInterceptor):
            def handle_update_validator(self, input: HandleUpdateInput) -> None:
                if input.update in GUARDED_UPDATES:
                    info = workflow.info()
                    transfer_id = info.workflow_id.removeprefix("transfer-")
                    request = input.args[0] if input.args else None
                    try:
                        verify(key, transfer_id, input.id, input.update, request, workflow.now())
                    except ProofRefused as refused:
                        workflow.logger.warning("update %s refused: %s", input.update, refused)
                        raise ApplicationError(str(refused), type="Forbidden", non_retryable=True) from None
                super().handle_update_validator(input)

        return CheckCallerProof
