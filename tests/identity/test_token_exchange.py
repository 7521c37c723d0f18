"""Token exchange against the real development OpenID provider (node oidc-provider): a person
signs in there with authorization code + PKCE, and registration trades the ID token for a
nuanliu token according to the staff directory."""

from __future__ import annotations

import time

import jwt
import pytest

from deploy.seed import seed_orgs, seed_staff
from services.registration.app import create_app
from services.registration.identity.keys import new_private_pem
from tests.support.idp import id_token_for, running_idp

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


@pytest.fixture(scope="module")
def idp():
    with running_idp("http://127.0.0.1:5999/auth/callback") as provider:
        yield provider


@pytest.fixture(scope="module")
def client(settings_for, migrated, idp):
    database = migrated("registration")
    seed_orgs(database)
    seed_staff(database)
    return create_app(settings_for("registration", oidc_issuer=idp.issuer)).test_client()


def exchange(client, id_token: str, **extra):
    body = {"grant_type": EXCHANGE, "subject_token": id_token, "subject_token_type": ID_TOKEN, **extra}
    return client.post("/api/v1/tokens", json=body)


def test_a_branch_secretary_exchanges_the_provider_id_token(client, idp):
    answer = exchange(client, id_token_for(idp, "sec-lc-md-sx"))
    assert answer.status_code == 200, answer.get_json()
    claims = jwt.decode(answer.get_json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["role"], claims["org"]) == (
        "sec-lc-md-sx",
        "branch_secretary",
        "HB-LC-MD-SX",
    )


def test_a_person_with_several_roles_chooses_one(client, idp):
    token = id_token_for(idp, "sec-wq-yc-01")
    default = exchange(client, token).get_json()
    assert {(item["org"], item["role"]) for item in default["roles"]} == {
        ("TJ-WQ-YC-01", "branch_secretary"),
        ("TJ-WQ-XZ-01", "branch_secretary"),
    }
    chosen = exchange(client, token, org="TJ-WQ-XZ-01").get_json()
    assert jwt.decode(chosen["access_token"], options={"verify_signature": False})["org"] == "TJ-WQ-XZ-01"
    assert exchange(client, token, org="HB-LC").status_code == 422


def test_wrong_passwords_get_no_token(idp):
    with pytest.raises(PermissionError):
        id_token_for(idp, "sec-lc-md-sx", "wrong")


def test_a_valid_person_without_a_role_gets_403(client, idp, migrated):
    from services.registration.commands.staff import RemoveStaff, remove_staff
    from services.registration.models import StaffAssignment
    from services.registration.unit_of_work import RegistrationUnitOfWork
    from shared.auth import Principal

    database = migrated("registration")
    with database.reader() as session:
        rows = [
            (row.id, row.org_code) for row in session.query(StaffAssignment).filter_by(subject="sec-sh-zj-01")
        ]
    admin = Principal(sub="t", role="admin", org="CN")
    for staff_id, org in rows:
        remove_staff(RegistrationUnitOfWork(database), admin, RemoveStaff(org_code=org, staff_id=staff_id))
    assert exchange(client, id_token_for(idp, "sec-sh-zj-01")).status_code == 403


def test_forged_expired_and_foreign_id_tokens_get_401(client, idp):
    genuine = id_token_for(idp, "dept-lc")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine).get("kid")
    own_key = new_private_pem()
    forged = jwt.encode(claims, own_key, algorithm="RS256", headers={"kid": kid})
    assert exchange(client, forged).status_code == 401
    assert exchange(client, genuine[:-4] + "AAAA").status_code == 401
    none_alg = jwt.encode(claims, None, algorithm="none")
    assert exchange(client, none_alg).status_code == 401
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 600}, own_key, algorithm="RS256", headers={"kid": kid}
    )
    assert exchange(client, expired).status_code == 401
    bad_type = client.post(
        "/api/v1/tokens", json={"grant_type": EXCHANGE, "subject_token": genuine, "subject_token_type": "x"}
    )
    assert bad_type.status_code == 422
