"""Security review, finding 2: the caller proof the transfer API adds to workflow updates, and the
Temporal client's mTLS settings. (The proof against a live worker: tests/integration/test_transfer_api.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from services.transfer.caller_proof import FRESH_FOR_SECONDS, ProofRefused, sign, verify
from services.transfer.messages import AuditItem, CancelRequest, DecisionRequest
from shared.settings import Settings, SettingsError
from shared.temporal import temporal_tls

KEY = "k" * 40
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _decision(actor: str = "sec-1", decision: str = "approve") -> DecisionRequest:
    audit = AuditItem(actor, "branch_secretary", f"decide:{decision}", "req-1", "BR-1")
    return DecisionRequest(decision, actor, None, "sending_branch", audit)


def _signed(request: DecisionRequest, key: str = KEY, at: datetime = NOW) -> DecisionRequest:
    assert request.audit is not None
    request.proof = sign(key, "t-1", "u-1", request.audit, int(at.timestamp()))
    return request


def test_a_proof_verifies_for_exactly_its_transfer_update_caller_and_action() -> None:
    verify(KEY, "t-1", "u-1", "decide", _signed(_decision()), NOW)
    refusals = [
        (KEY, "t-2", "u-1", "decide", _signed(_decision())),  # another transfer
        (KEY, "t-1", "u-2", "decide", _signed(_decision())),  # another update
        ("x" * 40, "t-1", "u-1", "decide", _signed(_decision())),  # another key
        (KEY, "t-1", "u-1", "decide", _decision()),  # none
    ]
    for key, transfer_id, update_id, update, request in refusals:
        with pytest.raises(ProofRefused):
            verify(key, transfer_id, update_id, update, request, NOW)


def test_changing_the_actor_role_org_or_decision_breaks_the_proof() -> None:
    for change in ("actor", "role", "org", "decision"):
        request = _signed(_decision())
        assert request.audit is not None
        if change == "actor":
            request.actor = request.audit.actor = "attacker"
        elif change == "role":
            request.audit.actor_role = "admin"
        elif change == "org":
            request.audit.actor_org = "CN"
        else:
            request.decision, request.audit.action = "reject", "decide:reject"
        with pytest.raises(ProofRefused):
            verify(KEY, "t-1", "u-1", "decide", request, NOW)
    # The actor the workflow records must be the audited one.
    request = _signed(_decision())
    request.actor = "attacker"
    with pytest.raises(ProofRefused, match="actor"):
        verify(KEY, "t-1", "u-1", "decide", request, NOW)
    # A cancel's proof does not pass as a decision's.
    audit = AuditItem("m-1", "member", "cancel", None, "BR-1")
    cancel = CancelRequest("m-1", "不调了", audit, sign(KEY, "t-1", "u-1", audit, int(NOW.timestamp())))
    verify(KEY, "t-1", "u-1", "cancel", cancel, NOW)
    with pytest.raises(ProofRefused):
        verify(KEY, "t-1", "u-1", "report", cancel, NOW)


def test_a_proof_is_fresh_for_a_few_minutes_either_way() -> None:
    late = NOW + timedelta(seconds=FRESH_FOR_SECONDS + 1)
    with pytest.raises(ProofRefused, match="expired"):
        verify(KEY, "t-1", "u-1", "decide", _signed(_decision()), late)
    verify(KEY, "t-1", "u-1", "decide", _signed(_decision()), NOW - timedelta(seconds=60))


def test_the_temporal_client_takes_mutual_tls_settings(tmp_path: Path) -> None:
    base = Settings(service="transfer")
    assert temporal_tls(base) is False
    for name in ("cert", "key", "ca"):
        (tmp_path / name).write_bytes(f"PEM {name}".encode())
    tls = temporal_tls(
        base.with_overrides(
            temporal_tls_cert=str(tmp_path / "cert"),
            temporal_tls_key=str(tmp_path / "key"),
            temporal_tls_ca=str(tmp_path / "ca"),
            temporal_tls_server_name="temporal.internal",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert, tls.domain) == (
        b"PEM cert",
        b"PEM key",
        b"PEM ca",
        "temporal.internal",
    )
    with pytest.raises(SettingsError, match="together"):
        temporal_tls(base.with_overrides(temporal_tls_cert=str(tmp_path / "cert")))
    with pytest.raises(SettingsError, match="TEMPORAL_TLS_CA"):
        temporal_tls(base.with_overrides(temporal_tls_ca=str(tmp_path / "missing")))
    from_env = Settings.from_env("transfer", {"TEMPORAL_TLS_SERVER_NAME": "t.internal"})
    assert from_env.temporal_tls_server_name == "t.internal"
    from_files = Settings.from_env("transfer", {"TEMPORAL_TLS_CA_FILE": "/tls/ca.crt"})
    assert from_files.temporal_tls_ca == "/tls/ca.crt"
