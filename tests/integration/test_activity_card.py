"""The 流动党员活动证 PDF (issue 20) on the real registration database: its text carries the card
number, particulars, home branch, destination, departure and the inflow contact; blank rows for
activities and the annual review; 409 without an open outflow; who may read it; the read audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.models import audit_log
from tests.integration.test_registration_api import new_member, outflow_body
from tests.support.builders import org_tree
from tests.support.documents import ensure_print_tools, first_page_png, page_count, pdf_text
from tests.support.tokens import ADMIN, bearer


@pytest.fixture(scope="module")
def client(settings_for, migrated):
    ensure_print_tools()
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def card_of(client, member_id: str, headers: dict[str, str]):
    return client.get(f"/api/v1/members/{member_id}/activity-card.pdf", headers=headers)


def test_the_card_of_an_open_outflow_prints_its_particulars(client, migrated, tmp_path):
    home, away = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, home["branch"], name="朱明", gender="female", status="probationary")
    me = bearer("member", home["branch"], member["id"])
    assert card_of(client, member["id"], me).status_code == 409  # never reported out

    outflow = client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=me)
    assert outflow.status_code == 201, outflow.get_json()
    card_no = outflow.get_json()["activity_card_no"]
    inflow = {
        "branch_code": away["branch"],
        "arrived_on": outflow_body()["departed_on"],
        "current_address": "浙江省绍兴市越城区灵芝街道",
        "occupation": "建筑工人",
        "contact_person": "王书记",
        "activity_card_no": card_no,  # a secretary records an inflow with the card the member shows
    }
    arrived = client.post(
        f"/api/v1/members/{member['id']}/inflows",
        json=inflow,
        headers=bearer("branch_secretary", away["branch"]),
    )
    assert arrived.status_code == 201, arrived.get_json()

    response = card_of(client, member["id"], me)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/pdf"
    assert page_count(response.data, tmp_path) == 1  # one A4 sheet
    text = "".join(pdf_text(response.data, tmp_path).split())
    departed = outflow_body()["departed_on"].split("-")
    for expected in (
        "流动党员活动证",
        card_no,
        "朱明",
        "女",
        "预备党员",
        member["id_number"],
        f"branch{home['branch']}",  # the home branch, by name
        "浙江省绍兴市越城区灵芝街道",
        f"{departed[0]}年{int(departed[1])}月{int(departed[2])}日",
        f"branch{away['branch']}",  # the inflow branch
        "王书记",  # its contact person
        "参加组织生活情况",
        "年度审核",
    ):
        assert expected in text, expected
    first_page_png(response.data, "activity-card")

    with migrated("registration").reader() as session:
        audited = session.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail).where(
                audit_log.c.object_id == member["id"], audit_log.c.action == "read_activity_card"
            )
        ).all()
    assert [tuple(row) for row in audited] == [(member["id"], "read_activity_card", card_no)]


def test_who_may_print_the_card(client):
    home, other = org_tree(client, ADMIN), org_tree(client, ADMIN)
    member = new_member(client, home["branch"])
    client.post(f"/api/v1/members/{member['id']}/outflows", json=outflow_body(), headers=ADMIN)
    assert card_of(client, member["id"], {}).status_code == 401
    for allowed in (
        bearer("branch_secretary", home["branch"]),
        bearer("township_officer", home["township"]),
        bearer("org_department", home["county"]),
        ADMIN,
    ):
        assert card_of(client, member["id"], allowed).status_code == 200
    for refused in (
        bearer("member", home["branch"], "someone-else"),
        bearer("branch_secretary", other["branch"]),
        bearer("org_department", other["county"]),
    ):
        assert card_of(client, member["id"], refused).status_code == 403
    assert card_of(client, "nobody", ADMIN).status_code == 404
