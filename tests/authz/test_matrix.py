"""The authorization matrix: every endpoint × every role × own / sibling / other subtree, with the
status each must get (the actors and the org tree are drawn in tests/authz/world.py).

Expectations follow docs/api.md, "Who may read": a member reads their own records and the tasks open
to their branch; secretaries, officers and departments read within their org's subtree; the admin
reads everything; anyone else gets 403. Where the contract is silent, a comment says what we chose.
No cross-branch or cross-township action may succeed, and no member may act for another member.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import requests

from tests.authz.world import ACTORS, Target, World, relationship_body, send, transfer_at
from tests.faults.harness import fresh_member_body
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN

DENY = 403
Expected = dict[str, int]

# --- who --------------------------------------------------------------------------------------

EVERYONE = frozenset(ACTORS)
MEMBERS = frozenset(a for a in ACTORS if a.startswith("member_"))
OWN_ORG = frozenset({"secretary_own", "officer_own", "department_own", "admin"})  # B and above
OFFICERS_OWN = frozenset({"officer_own", "department_own", "admin"})  # T and above
UNDER_T = frozenset({"member_self", "member_peer", "member_sib_branch"})  # members whose branch is under T
# The orgs with a part in a transfer from B to BR: its stages are held by B, T, K, KR and BR.
TRANSFER_PARTIES = frozenset(
    {"secretary_own", "officer_own", "department_own", "department_receiving", "secretary_receiving"}
)
# Issue 21, 代办: the org departments above each stage's org. Before the stage is overdue they
# are refused (403); the decision after it is overdue is in tests/integration/test_transfer_approval.py.
DEPARTMENTS_ABOVE = {
    "pending_sending_branch": {"department_own"},
    "pending_township": {"department_own"},
    "pending_county": set(),
    "pending_receiving_county": set(),
    "pending_receiving_branch": {"department_receiving"},
}


def allow(status: int, who: Iterable[str], refused: int = DENY, **special: int) -> Expected:
    """`status` for the actors in `who`, `refused` for everyone else, `special` overrides."""
    allowed = set(who)
    return {actor: special.get(actor, status if actor in allowed else refused) for actor in ACTORS}


def decisions(holder: str, status: str) -> Expected:
    """At an open stage its holder and the admin decide; another party to the transfer is at the
    wrong stage (409), but an org department above the stage's org, which may act for it only
    once it is overdue (403); anyone else is the wrong org (403)."""
    parties = TRANSFER_PARTIES - {holder} - DEPARTMENTS_ABOVE[status]
    return allow(200, {holder, "admin"}, **{party: 409 for party in parties})


# --- the requests -----------------------------------------------------------------------------
# Each takes the world, the row's target and the acting actor's name.

Call = Callable[[World, Target, str], requests.Response]


def get(service: str, path: Callable[[World, Target], str]) -> Call:
    return lambda w, t, actor: send("GET", w.url(service, path(w, t)), w.headers(actor, t))


def post(service: str, path: Callable[[World, Target], str], body: Callable[[World, Target], object]) -> Call:
    return lambda w, t, actor: send("POST", w.url(service, path(w, t)), w.headers(actor, t), body(w, t))


class ItemStatus:
    """A batch's answer as the row sees it: the status of its one item (or the batch's refusal)."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        if response.status_code == 200:
            (result,) = response.json()["results"]
            self.status_code = result["status"]


def batch_item_status(w: World, t: Target, actor: str) -> ItemStatus:
    body = {"items": [{"transfer_id": t.ref, "decision": "approve"}]}
    return ItemStatus(send("POST", w.url("transfer", "/transfers/decisions"), w.headers(actor, t), body))


def create_org(w: World, t: Target, actor: str) -> requests.Response:
    body = {"code": unique_code("BR"), "name": "新支部", "level": "branch", "parent_code": w.org["T"]}
    return send("POST", w.url("registration", "/orgs"), w.headers(actor, t), body)


def outflow_body(w: World, t: Target) -> dict[str, object]:
    return {
        "destination_region": "350300",
        "destination_address": "福建省莆田市",
        "occupation": "工人",
        "departed_on": date.today().isoformat(),
        "reason": "务工",
        "contact_phone": "13800001111",
    }


def member_away(w: World) -> Target:
    """A member of B with an open outflow (an activity card to print)."""
    target = w.member_target()
    away = send(
        "POST",
        w.url("registration", f"/members/{target.member}/outflows"),
        w.headers("admin", target),
        outflow_body(w, target),
    )
    assert away.status_code == 201, away.text
    return target


def inflow_body(w: World, t: Target) -> dict[str, object]:
    # The member of BR arrives at B.
    return {
        "branch_code": w.org["B"],
        "arrived_on": date.today().isoformat(),
        "current_address": "南京市玄武区",
        "occupation": "工人",
        "contact_person": "王书记",
        "activity_card_no": t.extra["card"],
    }


def checkin(w: World, t: Target, actor: str) -> requests.Response:
    # A member checks in themself; an org role records a grid survey.
    kind = "self" if actor in MEMBERS else "grid_survey"
    body = {"member_id": t.member, "branch_code": w.org["B"], "kind": kind}
    return send("POST", w.url("registration", "/checkins"), w.headers(actor, t), body)


def station_body(w: World, host: str) -> dict[str, object]:
    return {
        "code": unique_code("ST"),
        "name": "流动党员之家",
        "kind": "home",
        "host_org_code": w.org[host],
        "region": "320102",
        "address": "南京市玄武区",
    }


def station_target(w: World) -> Target:
    """A station hosted by branch B (created by the admin)."""
    created = send("POST", w.url("registration", "/stations"), ADMIN, station_body(w, "B"))
    assert created.status_code == 201, created.text
    return Target(w.resident.member, w.org["B"], ref=created.json()["code"])


def scan_target(w: World) -> Target:
    """A new member of B holding a screen code of a station of B."""
    target = w.member_target()
    target.ref = station_target(w).ref
    code = send("GET", w.url("registration", f"/stations/{target.ref}/qr"), ADMIN)
    assert code.status_code == 200, code.text
    target.extra["token"] = code.json()["token"]
    return target


def scan_checkin(w: World, t: Target, actor: str) -> requests.Response:
    body = {"member_id": t.member, "kind": "qr", "qr_token": t.extra["token"]}
    return send("POST", w.url("registration", "/checkins"), w.headers(actor, t), body)


def import_members(w: World, t: Target, actor: str) -> requests.Response:
    return requests.post(
        w.url("registration", f"/imports/members?branch={w.org['B']}&dry_run=false"),
        headers=w.headers(actor, t),
        files={"file": ("ledger.csv", t.extra["csv"], "text/csv")},
        timeout=60,
    )


def patch_member(w: World, t: Target, actor: str) -> requests.Response:
    """PATCH with the ETag the admin just read: the row checks who may edit, not concurrency."""
    url = w.url("registration", f"/members/{t.member}")
    etag = send("GET", url, ADMIN).headers["ETag"]
    body = {"six_facts": {"current_address": f"南京市玄武区{random.randrange(1000)}号"}}
    return send("PATCH", url, {**w.headers(actor, t), "If-Match": etag}, body)


def dues_body(w: World, t: Target) -> dict[str, object]:
    # member_body pays through 2026-10: a month after the present one is always forward.
    month = date.today().replace(day=1) + timedelta(days=32)
    return {"paid_through": month.strftime("%Y-%m"), "amount": "15.00"}


def member_arrived_at_b(w: World) -> Target:
    """A member of BR away from home with an open inflow at B (双向管理: B manages them too)."""
    target = w.mobile_member_target("BR")
    arrived = send(
        "POST", w.url("registration", f"/members/{target.member}/inflows"), ADMIN, inflow_body(w, target)
    )
    assert arrived.status_code == 201, arrived.text
    return target


def task_body(w: World, t: Target) -> dict[str, object]:
    return {
        "title": "清理河道",
        "description": "周末",
        "org_code": w.org["T"],
        "category": "environment",
        "due_on": (date.today() + timedelta(days=30)).isoformat(),
    }


def withdraw(w: World, t: Target, actor: str) -> requests.Response:
    return send("DELETE", w.url("tasks", f"/tasks/{t.ref}/claims/{t.member}"), w.headers(actor, t))


def put_preferences(w: World, t: Target, actor: str) -> requests.Response:
    body = {"channels": {"inapp": True, "sms": False, "email": False, "webhook": False}, "locale": "zh-CN"}
    return send("PUT", w.url("notify", "/preferences"), w.headers(actor, t), body)


def nothing(w: World, t: Target) -> dict[str, object]:
    return {}


def staff_body(w: World, t: Target) -> dict[str, object]:
    return {"subject": unique_code("oidc"), "name": "新书记", "role": "branch_secretary"}


def staff_target(w: World) -> Target:
    """A fresh staff assignment at B, made by the admin: the row's actors try to remove it."""
    from tests.support.tokens import ADMIN

    made = send("POST", w.url("registration", f"/orgs/{w.org['B']}/staff"), ADMIN, staff_body(w, w.resident))
    assert made.status_code == 201, made.text
    return Target(member=w.resident.member, branch=w.resident.branch, ref=made.json()["id"])


def remove_staff(w: World, t: Target, actor: str) -> requests.Response:
    return send("DELETE", w.url("registration", f"/orgs/{w.org['B']}/staff/{t.ref}"), w.headers(actor, t))


def request_code(w: World, t: Target, actor: str) -> requests.Response:
    # A phone of its own per call: the per-phone limit (1 a minute) is not what this row checks.
    phone = f"139{random.randrange(10**8):08d}"
    return send("POST", w.url("registration", "/otp"), w.headers(actor, t), {"phone": phone})


def wrong_client(w: World, t: Target, actor: str) -> requests.Response:
    body = {"grant_type": "client_credentials", "client_id": "transfer", "client_secret": "wrong"}
    return send("POST", w.url("registration", "/tokens"), w.headers(actor, t), body)


def attempt_body(w: World, t: Target) -> dict[str, object]:
    return {"method": "phone", "result": "not_reached", "note": "电话未接"}


def inflowed_at_b(w: World) -> Target:
    """A member of BR away with an open inflow at B: B's side keeps their contact course too."""
    target = w.mobile_member_target("BR")
    arrived = send(
        "POST", w.url("registration", f"/members/{target.member}/inflows"), ADMIN, inflow_body(w, target)
    )
    assert arrived.status_code == 201, arrived.text
    return target


def standing_body(w: World, t: Target) -> dict[str, object]:
    return {"standing": "suspended", "reason": "失联超过六个月", "decided_on": date.today().isoformat()}


# Every org department reads the audit entries about its own subtree; the admin all of them.
AUDIT_READERS = frozenset(
    {"department_own", "department_sib_county", "department_far", "department_receiving", "admin"}
)


# --- the matrix -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    call: Call
    expected: Expected
    setup: Callable[[World], Target] | None = None  # None: the world's resident member of B
    # A success uses the target up (a decision, a claim): the next actor gets a fresh one.
    consumes: bool = False


MATRIX: dict[str, Row] = {
    # --- registration ---
    "POST /orgs": Row(create_org, allow(201, {"department_own", "admin"})),
    # The staff directory: an org department above the org, or the admin (docs/api.md).
    "GET /orgs/{code}/staff": Row(
        get("registration", lambda w, t: f"/orgs/{w.org['B']}/staff"), allow(200, {"department_own", "admin"})
    ),
    "POST /orgs/{code}/staff": Row(
        post("registration", lambda w, t: f"/orgs/{w.org['B']}/staff", staff_body),
        allow(201, {"department_own", "admin"}),
    ),
    "DELETE /orgs/{code}/staff/{id}": Row(
        remove_staff, allow(204, {"department_own", "admin"}), setup=staff_target, consumes=True
    ),
    # The token service and the SMS code take no bearer: whoever calls gets the same answer.
    "POST /tokens": Row(wrong_client, allow(401, EVERYONE)),
    "POST /otp": Row(request_code, allow(202, EVERYONE)),
    # The org tree is directory data, open to every authenticated role (members use /orgs/nearest).
    "GET /orgs?parent=": Row(
        get("registration", lambda w, t: f"/orgs?parent={w.org['T']}"), allow(200, EVERYONE)
    ),
    "GET /orgs/{code}": Row(get("registration", lambda w, t: f"/orgs/{w.org['B']}"), allow(200, EVERYONE)),
    "GET /orgs/route": Row(
        get("registration", lambda w, t: f"/orgs/route?from={w.org['B']}&to={w.org['BR']}"),
        allow(200, EVERYONE),
    ),
    "GET /orgs/nearest": Row(
        get("registration", lambda w, t: "/orgs/nearest?region=3201"), allow(200, EVERYONE)
    ),
    "POST /members": Row(
        post("registration", lambda w, t: "/members", lambda w, t: fresh_member_body(w.org["B"])),
        allow(201, OWN_ORG),
    ),
    # A fellow member of the same branch sees the record masked (tests/pii checks the masking).
    "GET /members/{id}": Row(
        get("registration", lambda w, t: f"/members/{t.member}"),
        allow(200, OWN_ORG | {"member_self", "member_peer", "service"}),
        setup=World.member_target,
    ),
    # Issue 18: the secretary of the member's branch or above edits; the member, their phone and
    # current facts (this row changes current_address).
    "PATCH /members/{id}": Row(
        patch_member, allow(200, OWN_ORG | {"member_self"}), setup=World.member_target
    ),
    "POST /members/{id}/dues": Row(
        post("registration", lambda w, t: f"/members/{t.member}/dues", dues_body),
        allow(201, OWN_ORG),
        setup=World.member_target,
        consumes=True,
    ),
    "GET /members/{id}/dues": Row(
        get("registration", lambda w, t: f"/members/{t.member}/dues"),
        allow(200, OWN_ORG | {"member_self", "service"}),
        setup=World.member_target,
    ),
    "POST /members/{id}/returns": Row(
        post(
            "registration",
            lambda w, t: f"/members/{t.member}/returns",
            lambda w, t: {"returned_on": date.today().isoformat()},
        ),
        allow(201, OWN_ORG | {"member_self"}),
        setup=lambda w: member_away(w),
        consumes=True,
    ),
    # 双向管理: a member of BR with an open inflow at B is read by B and those above B as by
    # their own branch BR and its county KR (the home side); B's members are no fellow members of theirs.
    "GET /members/{id} (open inflow at B)": Row(
        get("registration", lambda w, t: f"/members/{t.member}"),
        allow(200, OWN_ORG | {"member_self", "secretary_receiving", "department_receiving", "service"}),
        setup=member_arrived_at_b,
    ),
    "GET /members/{id}/mobility (open inflow at B)": Row(
        get("registration", lambda w, t: f"/members/{t.member}/mobility"),
        allow(200, OWN_ORG | {"member_self", "secretary_receiving", "department_receiving", "service"}),
        setup=member_arrived_at_b,
    ),
    "GET /members/{id}/dues (open inflow at B)": Row(
        get("registration", lambda w, t: f"/members/{t.member}/dues"),
        allow(200, OWN_ORG | {"member_self", "secretary_receiving", "department_receiving", "service"}),
        setup=member_arrived_at_b,
    ),
    # Managing is not editing: the record and the dues stay with the home side.
    "PATCH /members/{id} (open inflow at B)": Row(
        patch_member,
        allow(200, {"member_self", "secretary_receiving", "department_receiving", "admin"}),
        setup=member_arrived_at_b,
    ),
    "POST /members/{id}/dues (open inflow at B)": Row(
        post("registration", lambda w, t: f"/members/{t.member}/dues", dues_body),
        allow(201, {"secretary_receiving", "department_receiving", "admin"}),
        setup=member_arrived_at_b,
        consumes=True,
    ),
    # B records check-ins (grid surveys at B) of the members who flowed in; BR's secretary, the
    # home side, records at its own branch, not at B.
    "POST /checkins (open inflow at B)": Row(
        checkin,
        allow(201, {"member_self", "secretary_own", "officer_own", "admin", "service"}),
        setup=member_arrived_at_b,
    ),
    "GET /members?inflow_branch=": Row(
        get("registration", lambda w, t: f"/members?inflow_branch={w.org['B']}"),
        allow(200, OWN_ORG | {"service"}),
    ),
    "GET /ledger?org=&side=inflow": Row(
        get("registration", lambda w, t: f"/ledger?org={w.org['B']}&side=inflow&format=json"),
        allow(200, OWN_ORG | {"service"}),
    ),
    "GET /members/{id}/mobility": Row(
        get("registration", lambda w, t: f"/members/{t.member}/mobility"),
        allow(200, OWN_ORG | {"member_self", "service"}),
        setup=World.member_target,
    ),
    "GET /members?branch=": Row(
        get("registration", lambda w, t: f"/members?branch={w.org['B']}"), allow(200, OWN_ORG | {"service"})
    ),
    "GET /ledger?org=": Row(
        get("registration", lambda w, t: f"/ledger?org={w.org['B']}&format=json"),
        allow(200, OWN_ORG | {"service"}),
    ),
    # The full sheet (full ID numbers and phones, importable back): those who read B's members in
    # full, never a service.
    "GET /ledger?org= (masked=false)": Row(
        get("registration", lambda w, t: f"/ledger?org={w.org['B']}&format=csv&masked=false"),
        allow(200, OWN_ORG),
    ),
    # The import template is the same for every org; whoever may import somewhere may have it.
    "GET /imports/members/template.xlsx": Row(
        get("registration", lambda w, t: "/imports/members/template.xlsx"),
        allow(200, EVERYONE - MEMBERS - {"service"}),
    ),
    "POST /members/{id}/outflows": Row(
        post("registration", lambda w, t: f"/members/{t.member}/outflows", outflow_body),
        allow(201, OWN_ORG | {"member_self", "service"}),
        setup=World.member_target,
        consumes=True,
    ),
    # Issue 20: the member, or a secretary of their branch or above (not a peer, not the service).
    "GET /members/{id}/activity-card.pdf": Row(
        get("registration", lambda w, t: f"/members/{t.member}/activity-card.pdf"),
        allow(200, OWN_ORG | {"member_self"}),
        setup=lambda w: member_away(w),
    ),
    # A member of BR arrives at B: the member, or B's secretary and those above B.
    "POST /members/{id}/inflows": Row(
        post("registration", lambda w, t: f"/members/{t.member}/inflows", inflow_body),
        allow(201, OWN_ORG | {"member_self", "service"}),
        setup=lambda w: w.mobile_member_target("BR"),
        consumes=True,
    ),
    # docs/api.md: the member themself, or a secretary or officer recording a grid survey.
    "POST /checkins": Row(
        checkin,
        allow(201, {"member_self", "secretary_own", "officer_own", "admin", "service"}),
        setup=World.member_target,
    ),
    # A check-in by scan is the member's own (a secretary records a grid survey instead).
    "POST /checkins (qr)": Row(
        scan_checkin, allow(201, {"member_self", "service"}), setup=scan_target, consumes=True
    ),
    # Stations are public places like the org tree; township officers and departments create them.
    "POST /stations": Row(
        post("registration", lambda w, t: "/stations", lambda w, t: station_body(w, "T")),
        allow(201, {"officer_own", "department_own", "admin"}),
    ),
    "GET /stations?org=": Row(
        get("registration", lambda w, t: f"/stations?org={w.org['T']}"), allow(200, EVERYONE)
    ),
    "GET /stations/{code}": Row(
        get("registration", lambda w, t: f"/stations/{t.ref}"), allow(200, EVERYONE), setup=station_target
    ),
    # Codes are for the host's staff and those above: a member holding one could check in from home.
    "GET /stations/{code}/qr": Row(
        get("registration", lambda w, t: f"/stations/{t.ref}/qr"), allow(200, OWN_ORG), setup=station_target
    ),
    "GET /stations/{code}/poster.pdf": Row(
        get("registration", lambda w, t: f"/stations/{t.ref}/poster.pdf"),
        allow(200, OWN_ORG),
        setup=station_target,
    ),
    "POST /stations/{code}/rotate-key": Row(
        post("registration", lambda w, t: f"/stations/{t.ref}/rotate-key", nothing),
        allow(200, OWN_ORG),
        setup=station_target,
    ),
    "GET /stats/stations?org=": Row(
        get("registration", lambda w, t: f"/stats/stations?org={w.org['T']}&month=2026-01"),
        allow(200, OFFICERS_OWN | {"service"}),
    ),
    # A member's listing is narrowed to their own check-ins (test_member_lists_only_own_checkins).
    "GET /checkins?branch=": Row(
        get("registration", lambda w, t: f"/checkins?branch={w.org['B']}"),
        allow(200, OWN_ORG | MEMBERS | {"service"}),
    ),
    "GET /checkins?member_id=": Row(
        get("registration", lambda w, t: f"/checkins?member_id={t.member}"),
        allow(200, OWN_ORG | {"member_self", "service"}),
        setup=World.member_target,
    ),
    "POST /members/{id}/relationship": Row(
        post(
            "registration",
            lambda w, t: f"/members/{t.member}/relationship",
            lambda w, t: relationship_body(w),
        ),
        allow(200, {"service"}),
        setup=World.member_target,
        consumes=True,
    ),
    # The same roles as POST /members (docs/api.md); a service does not import ledgers.
    "POST /imports/members": Row(import_members, allow(201, OWN_ORG), setup=World.import_file, consumes=True),
    # A ledger for B naming another branch in a row: the whole file is refused (422, by row), so
    # even those above both branches import only into the branch they name in the query.
    "POST /imports/members (a row for the sibling branch)": Row(
        import_members, allow(422, OWN_ORG), setup=lambda w: w.import_file(row_branch="BS")
    ),
    # Issue 18 (ledger course): the member's branch or inflow branch, or above (docs/api.md).
    "POST /members/{id}/contact-attempts": Row(
        post("registration", lambda w, t: f"/members/{t.member}/contact-attempts", attempt_body),
        allow(201, OWN_ORG),
        setup=World.member_target,
    ),
    "POST /members/{id}/contact-attempts (inflow at B)": Row(
        post("registration", lambda w, t: f"/members/{t.member}/contact-attempts", attempt_body),
        allow(201, OWN_ORG | {"secretary_receiving", "department_receiving"}),
        setup=inflowed_at_b,
    ),
    "GET /members/{id}/contact-attempts": Row(
        get("registration", lambda w, t: f"/members/{t.member}/contact-attempts"),
        allow(200, OWN_ORG),
        setup=World.member_target,
    ),
    # An org department above the member's branch, and no one else (not even the admin).
    "POST /members/{id}/standing": Row(
        post("registration", lambda w, t: f"/members/{t.member}/standing", standing_body),
        allow(201, {"department_own"}),
        setup=World.member_target,
        consumes=True,
    ),
    "GET /members?org=&q=": Row(
        get("registration", lambda w, t: f"/members?org={w.org['B']}&q=%E6%9D%8E"),
        allow(200, OWN_ORG | {"service"}),
    ),
    "GET /members?org=&id_number=": Row(
        get("registration", lambda w, t: f"/members?org={w.org['B']}&id_number=110101199003070011"),
        allow(200, OWN_ORG | {"service"}),
    ),
    "GET /stats/coverage?org=": Row(
        get("registration", lambda w, t: f"/stats/coverage?org={w.org['B']}&month=2026-03"),
        allow(200, OWN_ORG | {"service"}),
    ),
    # The dashboards' figures (issue 22): scoped as coverage is.
    "GET /stats/breakdown?org=": Row(
        get("registration", lambda w, t: f"/stats/breakdown?org={w.org['B']}&month=2026-03"),
        allow(200, OWN_ORG | {"service"}),
    ),
    "GET /stats/flows?org=": Row(
        get("registration", lambda w, t: f"/stats/flows?org={w.org['B']}"), allow(200, OWN_ORG | {"service"})
    ),
    **{
        f"GET /audit ({service})": Row(get(service, lambda w, t: "/audit"), allow(200, AUDIT_READERS))
        for service in ("registration", "transfer", "tasks", "notify")
    },
    # --- transfer ---
    # docs/api.md: the member, or the sending branch's secretary; nobody else applies, not even the admin.
    "POST /transfers": Row(
        post(
            "transfer",
            lambda w, t: "/transfers",
            lambda w, t: {"member_id": t.member, "to_branch_code": w.org["BR"], "reason": "工作调动"},
        ),
        allow(201, {"member_self", "secretary_own"}),
        setup=World.member_target,
        consumes=True,
    ),
    # Every caller has boxes of their own (a member's hold their own transfers); a service has none.
    "GET /transfers?box=": Row(
        get("transfer", lambda w, t: "/transfers?box=todo"), allow(200, EVERYONE - {"service"})
    ),
    # Another org's boxes: within the caller's subtree only. A member naming their own branch still
    # gets only their own transfers (test_lists_show_each_actor_only_their_scope).
    "GET /transfers?box=&org=": Row(
        get("transfer", lambda w, t: f"/transfers?box=todo&org={w.org['B']}"),
        allow(200, OWN_ORG | {"member_self", "member_peer"}),
    ),
    # Both sides of a transfer read it: the receiving branch prepares for the member.
    "GET /transfers/{id}": Row(
        get("transfer", lambda w, t: f"/transfers/{t.ref}"),
        allow(200, OWN_ORG | {"member_self", "secretary_receiving", "department_receiving", "service"}),
        setup=World.transfer,
    ),
    **{
        f"POST /transfers/{{id}}/decisions @{status}": Row(
            post(
                "transfer", lambda w, t: f"/transfers/{t.ref}/decisions", lambda w, t: {"decision": "approve"}
            ),
            decisions(holder, status),
            setup=transfer_at(status),
            consumes=True,
        )
        for status, holder in (
            ("pending_sending_branch", "secretary_own"),
            ("pending_township", "officer_own"),
            ("pending_county", "department_own"),
            ("pending_receiving_county", "department_receiving"),
            ("pending_receiving_branch", "secretary_receiving"),
        )
    },
    # No stage is open: any decision by a party (or the admin) is a 409; an outsider is still
    # refused as the wrong org, and learns nothing of the transfer's state.
    "POST /transfers/{id}/decisions @letter_issued": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/decisions", lambda w, t: {"decision": "approve"}),
        allow(409, TRANSFER_PARTIES | {"admin"}),
        setup=transfer_at("letter_issued"),
    ),
    # docs/api.md: the applicant (the member, or the sending secretary who applied for them). Unlike
    # /cancel, the admin does not resubmit on someone's behalf.
    "POST /transfers/{id}/resubmit": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/resubmit", nothing),
        allow(200, {"member_self", "secretary_own"}),
        setup=World.returned_transfer,
        consumes=True,
    ),
    # docs/api.md: the member or the sending secretary; the admin, who may act at any stage, too.
    "POST /transfers/{id}/cancel": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/cancel", lambda w, t: {"reason": "不走了"}),
        allow(200, {"member_self", "secretary_own", "admin"}),
        setup=World.transfer,
        consumes=True,
    ),
    # docs/api.md: the member, or the receiving secretary; the admin too (as for /cancel).
    "POST /transfers/{id}/report": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/report", nothing),
        allow(200, {"member_self", "secretary_receiving", "admin"}),
        setup=transfer_at("letter_issued"),
        consumes=True,
    ),
    # docs/domain.md step 6: the sending secretary (or the admin) re-issues an expired letter. An expired
    # transfer takes the letter's whole validity to make, so the row uses an open one: who may act
    # gets 409 (not expired), everyone else 403 before the state is looked at. The 200 is in
    # tests/integration/test_transfer_api.py (test_an_expired_letter_is_reissued_...).
    "POST /transfers/{id}/reissue": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/reissue", nothing),
        allow(409, {"secretary_own", "admin"}),
        setup=World.transfer,
    ),
    # Issue 21, 催办: the applicant (here the sending secretary, for member_self), the member, the
    # sending secretary, and staff of the orgs above the open stage's org (B: T and K). The admin is
    # no stage's superior, and the receiving side is not above the sending branch. Each urge is once
    # a day per caller and stage: the target is new after each success.
    "POST /transfers/{id}/urge": Row(
        post("transfer", lambda w, t: f"/transfers/{t.ref}/urge", lambda w, t: {"note": "请尽快办理"}),
        allow(200, {"member_self", "secretary_own", "officer_own", "department_own"}),
        setup=World.transfer,
        consumes=True,
    ),
    # Issue 21, 代办 before the stage is overdue: the org department above the township (K) is
    # refused (403) even with a reason, as every outsider; the parties at other stages get 409.
    "POST /transfers/{id}/decisions (act for, not overdue)": Row(
        post(
            "transfer",
            lambda w, t: f"/transfers/{t.ref}/decisions",
            lambda w, t: {"decision": "return", "reason": "逾期代办"},
        ),
        decisions("officer_own", "pending_township"),
        setup=transfer_at("pending_township"),
        consumes=True,
    ),
    # Issue 21, batch decisions: each item answers as the single endpoint would (its status is the
    # row's status); the batch itself is for the roles of the single endpoint (others 403).
    "POST /transfers/decisions": Row(
        lambda w, t, actor: batch_item_status(w, t, actor),
        decisions("secretary_own", "pending_sending_branch"),
        setup=World.transfer,
        consumes=True,
    ),
    # Issue 20: the letter's PDF, as API.md lists its readers (the service reads no full particulars).
    "GET /transfers/{id}/letter.pdf": Row(
        get("transfer", lambda w, t: f"/transfers/{t.ref}/letter.pdf"),
        allow(200, OWN_ORG | {"member_self", "secretary_receiving", "department_receiving"}),
        setup=transfer_at("letter_issued"),
    ),
    # Public (API.md: no auth): whoever holds a letter verifies it; a wrong code is a 404 to all.
    "GET /letters/{number}": Row(
        get("transfer", lambda w, t: "/letters/XX-2026-000001?code=not-the-code"), allow(404, EVERYONE)
    ),
    "GET /stats/transfers?org=": Row(
        get("transfer", lambda w, t: f"/stats/transfers?org={w.org['B']}"), allow(200, OWN_ORG)
    ),
    # --- tasks (T's tasks: open to the members and secretaries of B and BS, not of BT) ---
    # docs/api.md: a township officer in scope; a county department does not create tasks.
    "POST /tasks": Row(post("tasks", lambda w, t: "/tasks", task_body), allow(201, {"officer_own", "admin"})),
    # Everyone lists their own scope (test_lists_show_each_actor_only_their_scope checks what).
    "GET /tasks": Row(get("tasks", lambda w, t: "/tasks"), allow(200, EVERYONE)),
    # An officer naming an org outside its subtree is refused; a member's or secretary's list is
    # narrowed to the tasks open to their branch anyway, so naming an org only filters it.
    "GET /tasks?org=": Row(
        get("tasks", lambda w, t: f"/tasks?org={w.org['T']}"),
        allow(
            200,
            EVERYONE
            - {
                "officer_sib_township",
                "officer_far",
                "department_sib_county",
                "department_far",
                "department_receiving",
            },
        ),
    ),
    # A secretary sees the tasks open to their branch, like its members (to rally them).
    "GET /tasks/{id}": Row(
        get("tasks", lambda w, t: f"/tasks/{t.ref}"),
        allow(200, UNDER_T | {"secretary_own", "secretary_sib_branch", "service"} | OFFICERS_OWN),
        setup=World.task,
    ),
    "GET /tasks/{id} (draft)": Row(
        get("tasks", lambda w, t: f"/tasks/{t.ref}"),
        allow(200, OFFICERS_OWN | {"service"}),
        setup=lambda w: w.task(publish=False),
    ),
    # Contract silent: whoever may cancel (an officer in scope) may publish.
    "POST /tasks/{id}/publish": Row(
        post("tasks", lambda w, t: f"/tasks/{t.ref}/publish", nothing),
        allow(200, OFFICERS_OWN),
        setup=lambda w: w.task(publish=False),
        consumes=True,
    ),
    "POST /tasks/{id}/cancel": Row(
        post("tasks", lambda w, t: f"/tasks/{t.ref}/cancel", lambda w, t: {"reason": "取消"}),
        allow(200, OFFICERS_OWN),
        setup=World.task,
        consumes=True,
    ),
    # A member whose branch lies under T: B's and BS's members, not BT's (another township).
    "POST /tasks/{id}/claims": Row(
        post("tasks", lambda w, t: f"/tasks/{t.ref}/claims", lambda w, t: {"commitment": "我来"}),
        allow(201, UNDER_T),
        setup=World.task,
        consumes=True,
    ),
    # The claimant withdraws, or an officer in scope removes them; nobody else.
    "DELETE /tasks/{id}/claims/{member_id}": Row(
        withdraw,
        allow(200, {"member_self"} | OFFICERS_OWN),
        setup=lambda w: w.task(claimants=("self",)),
        consumes=True,
    ),
    "POST /tasks/{id}/assignments": Row(
        post("tasks", lambda w, t: f"/tasks/{t.ref}/assignments", lambda w, t: {"member_id": t.member}),
        allow(201, OFFICERS_OWN),
        setup=World.task,
        consumes=True,
    ),
    # Assigning a member of another township is a cross-township action: refused even to the admin,
    # as the member could not claim the task themself.
    "POST /tasks/{id}/assignments (member of a sibling township)": Row(
        post(
            "tasks",
            lambda w, t: f"/tasks/{t.ref}/assignments",
            lambda w, t: {"member_id": w.members["member_sib_township"]},
        ),
        allow(201, ()),
        setup=World.task,
    ),
    "POST /tasks/{id}/progress": Row(
        post(
            "tasks",
            lambda w, t: f"/tasks/{t.ref}/progress",
            lambda w, t: {"note": "已上门两次", "percent": 40},
        ),
        allow(201, {"member_self"}),
        setup=lambda w: w.task(claimants=("self",)),
        consumes=True,
    ),
    # The lead claimant only: member_peer here is a claimant too, but not the lead.
    "POST /tasks/{id}/complete": Row(
        post("tasks", lambda w, t: f"/tasks/{t.ref}/complete", lambda w, t: {"summary": "已完成"}),
        allow(200, {"member_self"}),
        setup=lambda w: w.task(claimants=("self", "member_peer")),
        consumes=True,
    ),
    "POST /tasks/{id}/evaluations (org)": Row(
        post(
            "tasks", lambda w, t: f"/tasks/{t.ref}/evaluations", lambda w, t: {"rating": 5, "source": "org"}
        ),
        allow(201, OFFICERS_OWN),
        setup=lambda w: w.task(claimants=("self",), complete=True),
        consumes=True,
    ),
    # A member the task was open to, who did not claim it (member_self led it).
    "POST /tasks/{id}/evaluations (member)": Row(
        post(
            "tasks",
            lambda w, t: f"/tasks/{t.ref}/evaluations",
            lambda w, t: {"rating": 4, "source": "member"},
        ),
        allow(201, {"member_peer", "member_sib_branch"}),
        setup=lambda w: w.task(claimants=("self",), complete=True),
        consumes=True,
    ),
    # A resident's rating, recorded by an officer in scope or a secretary of a branch it served.
    "POST /tasks/{id}/evaluations (public)": Row(
        post(
            "tasks",
            lambda w, t: f"/tasks/{t.ref}/evaluations",
            lambda w, t: {"rating": 4, "source": "public"},
        ),
        allow(201, OFFICERS_OWN | {"secretary_own", "secretary_sib_branch"}),
        setup=lambda w: w.task(claimants=("self",), complete=True),
    ),
    # Contract silent: a branch's ranking is an honour roll its own members may read (and those of
    # the orgs above theirs), but not a sibling branch's members.
    "GET /points?org=": Row(
        get("tasks", lambda w, t: f"/points?org={w.org['B']}"),
        allow(200, {"member_self", "member_peer", "secretary_own", "service"} | OFFICERS_OWN),
    ),
    # API additions (tasks): a member's own points; nobody else has any.
    "GET /points/me": Row(get("tasks", lambda w, t: "/points/me"), allow(200, MEMBERS)),
    "GET /stats/tasks?org=": Row(
        get("tasks", lambda w, t: f"/stats/tasks?org={w.org['T']}"), allow(200, OFFICERS_OWN | {"service"})
    ),
    # --- notify: everyone has an inbox and preferences of their own, and nothing else ---
    "GET /notifications": Row(get("notify", lambda w, t: "/notifications"), allow(200, EVERYONE)),
    "GET /notifications/unread_count": Row(
        get("notify", lambda w, t: "/notifications/unread_count"), allow(200, EVERYONE)
    ),
    "POST /notifications/read_all": Row(
        post("notify", lambda w, t: "/notifications/read_all", nothing), allow(200, EVERYONE)
    ),
    "POST /notifications/read-all": Row(
        post("notify", lambda w, t: "/notifications/read-all", nothing), allow(200, EVERYONE)
    ),
    # Someone else's notification is an unknown id (404), even to the admin: marking it read is
    # acting for its addressee, and its existence is not revealed.
    "POST /notifications/{id}/read (to the member)": Row(
        post("notify", lambda w, t: f"/notifications/{t.ref}/read", nothing),
        allow(200, {"member_self"}, refused=404),
        setup=World.member_notification,
    ),
    # Addressed to branch B: its secretaries (a township officer has its own org's inbox).
    "POST /notifications/{id}/read (to the branch)": Row(
        post("notify", lambda w, t: f"/notifications/{t.ref}/read", nothing),
        allow(200, {"secretary_own"}, refused=404),
        setup=World.branch_notification,
    ),
    "GET /preferences": Row(get("notify", lambda w, t: "/preferences"), allow(200, EVERYONE)),
    "PUT /preferences": Row(put_preferences, allow(200, EVERYONE)),
    "GET /deliveries": Row(get("notify", lambda w, t: "/deliveries"), allow(200, {"admin", "service"})),
    "POST /digests": Row(post("notify", lambda w, t: "/digests", nothing), allow(200, {"admin", "service"})),
}


def run_row(world: World, row: Row) -> dict[str, int]:
    """Every actor's status on one row. A target is made once and reused while actors are
    refused (a refusal changes nothing); a success on a consuming row makes the next actor a new one."""
    got: dict[str, int] = {}
    target: Target | None = None
    for actor in ACTORS:
        if target is None:
            target = row.setup(world) if row.setup else world.resident
        status = row.call(world, target, actor).status_code
        got[actor] = status
        if row.consumes and status < 300:
            target = None
    return got


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_authorization_matrix(world: World, endpoint: str) -> None:
    row = MATRIX[endpoint]
    got = run_row(world, row)
    wrong = {
        actor: f"got {got[actor]}, expected {row.expected[actor]}"
        for actor in ACTORS
        if got[actor] != row.expected[actor]
    }
    assert not wrong, f"{endpoint}:\n" + "\n".join(f"  {actor:24} {what}" for actor, what in wrong.items())


def _operation(key: str) -> tuple[str, str]:
    """("POST", "/transfers/{}/decisions") from a row's name such as
    "POST /transfers/{id}/decisions @pending_township"."""
    method, rest = key.split(" ", 1)
    path = rest.split(" ", 1)[0].split("?", 1)[0]
    return method, re.sub(r"\{[^}]*\}", "{}", path)


def test_every_operation_has_a_row(world: World) -> None:
    """Each /api/v1 operation of each service's OpenAPI document appears in the matrix."""
    covered = {_operation(key) for key in MATRIX}
    served: set[tuple[str, str]] = set()
    for base in world.urls.values():
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            if not path.startswith("/api/v1/"):
                continue
            for method in operations:
                if method != "parameters":
                    served.add((method.upper(), re.sub(r"\{[^}]*\}", "{}", path.removeprefix("/api/v1"))))
    assert served - covered == set(), "operations without a row in MATRIX"
    assert covered - served == set(), "rows for operations no service serves"


# What the contract opens to anyone (docs/api.md): sign-in itself, and a letter in someone's hand,
# verified with no sign-in (422 without the code the QR carries, 404 for a wrong one).
PUBLIC = {
    ("post", "/api/v1/tokens"): 422,  # an empty body names the missing grant_type
    ("post", "/api/v1/otp"): 422,  # an empty body names the missing phone
    ("get", "/api/v1/letters/{number}"): 422,
}


def test_no_unauthenticated_access(world: World) -> None:
    """Every path of every document refuses a request without a token (401), but the public ones."""
    for service, base in world.urls.items():
        spec = requests.get(f"{base}/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            concrete = path.replace("{", "X").replace("}", "")
            for method in operations:
                if method == "parameters":
                    continue
                status = requests.request(method, f"{base}{concrete}", json={}, timeout=10).status_code
                if (method, path) in PUBLIC:
                    assert status == PUBLIC[(method, path)], f"{service} {method.upper()} {path}: {status}"
                    continue
                assert status == 401, f"{service} {method.upper()} {path} without a token: {status}"


# --- what a 200 shows: lists hold only what the caller may see -------------------------------


def _ids(world: World, service: str, path: str, actor: str, target: Target) -> set[str]:
    response = send("GET", world.url(service, path), world.headers(actor, target))
    assert response.status_code == 200, f"{actor}: {response.text}"
    return {item["id"] for item in response.json()["items"]}


def test_lists_show_each_actor_only_their_scope(world: World) -> None:
    """Who finds T's open task in GET /tasks, B's check-in notice in GET /notifications, and a
    transfer waiting on T in the township's todo box (with and without ?org=)."""
    task = world.task()
    notice = world.branch_notification()
    transfer = world.transfer(approvals=1)  # waiting on T
    seen_task = {a for a in ACTORS if task.ref in _ids(world, "tasks", "/tasks?limit=200", a, task)}
    assert seen_task == UNDER_T | {"secretary_own", "secretary_sib_branch", "service"} | OFFICERS_OWN
    # Org-addressed notices reach exactly that org's people; a township officer has its own inbox.
    seen_notice = {
        a for a in ACTORS if notice.ref in _ids(world, "notify", "/notifications?limit=200", a, notice)
    }
    assert seen_notice == {"secretary_own"}
    box_actors = [a for a in ACTORS if a != "service"]

    def seen_in(box: str) -> set[str]:
        path = f"/transfers?box={box}&limit=200"
        return {a for a in box_actors if transfer.ref in _ids(world, "transfer", path, a, transfer)}

    assert seen_in("todo") == {"officer_own"}
    # Which party's box holds it at other times is the boxes' business; outsiders' never do.
    for box in ("pending", "done"):
        assert seen_in(box) <= TRANSFER_PARTIES | {"member_self"}, box
    # Naming the township: those above it see its todo box; a member of B sees only their own.
    named = f"/transfers?box=todo&org={world.org['T']}"
    for actor in ("officer_own", "department_own", "admin"):
        assert transfer.ref in _ids(world, "transfer", named, actor, transfer)
    for actor in ("officer_sib_township", "secretary_own", "department_sib_county", "member_self"):
        response = send("GET", world.url("transfer", named), world.headers(actor, transfer))
        assert response.status_code == 403, f"{actor}: {response.status_code}"


def test_member_lists_only_own_checkins(world: World) -> None:
    mine, theirs = world.member_target(), world.member_target()
    recorded = {"member_id": theirs.member, "branch_code": world.org["B"], "kind": "grid_survey"}
    assert (
        send("POST", world.url("registration", "/checkins"), world.as_actor("admin"), recorded).status_code
        == 201
    )
    for target in (mine, theirs):
        body = {"member_id": target.member, "branch_code": world.org["B"], "kind": "self"}
        response = send(
            "POST", world.url("registration", "/checkins"), world.headers("member_self", target), body
        )
        assert response.status_code == 201
    listed = _ids(world, "registration", f"/checkins?branch={world.org['B']}&limit=200", "member_self", mine)
    response = send(
        "GET",
        world.url("registration", f"/checkins?branch={world.org['B']}&limit=200"),
        world.headers("member_self", mine),
    )
    assert {item["member_id"] for item in response.json()["items"]} == {mine.member} and listed
