"""The org tree, the actors and the targets of the authorization matrix.

    CN
    ├── P (province)
    │   ├── K (county) ───────────── department_own
    │   │   ├── T (township) ──────── officer_own
    │   │   │   ├── B (branch) ────── secretary_own, member_self, member_peer
    │   │   │   └── BS ────────────── secretary_sib_branch, member_sib_branch     (sibling branch)
    │   │   └── TS (township) ─────── officer_sib_township                         (sibling township)
    │   │       └── BT ────────────── secretary_sib_township, member_sib_township
    │   └── KS (county) ──────────── department_sib_county                        (sibling county)
    ├── PF → KF → TF → BF ─────────── department_far, officer_far, secretary_far, member_far
    └── PR → KR → TR → BR ─────────── department_receiving (KR), secretary_receiving (BR)
                                      (where transfers go: cross_province)

A row acts on a target at B: its member (member_self is that member; member_peer is another
member of the same branch), its transfer, task or notification.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import requests

from tests.faults.harness import fresh_member_body
from tests.support.builders import unique_code
from tests.support.tokens import ADMIN, bearer

Headers = dict[str, str]

ACTORS = (
    "member_self",
    "member_peer",
    "member_sib_branch",
    "member_sib_township",
    "member_far",
    "secretary_own",
    "secretary_sib_branch",
    "secretary_sib_township",
    "secretary_far",
    "secretary_receiving",
    "officer_own",
    "officer_sib_township",
    "officer_far",
    "department_own",
    "department_sib_county",
    "department_far",
    "department_receiving",
    "admin",
    "service",
)
# Org roles: actor → (role, the org of its token, by its name in the tree above).
ORG_ACTORS = {
    "secretary_own": ("branch_secretary", "B"),
    "secretary_sib_branch": ("branch_secretary", "BS"),
    "secretary_sib_township": ("branch_secretary", "BT"),
    "secretary_far": ("branch_secretary", "BF"),
    "secretary_receiving": ("branch_secretary", "BR"),
    "officer_own": ("township_officer", "T"),
    "officer_sib_township": ("township_officer", "TS"),
    "officer_far": ("township_officer", "TF"),
    "department_own": ("org_department", "K"),
    "department_sib_county": ("org_department", "KS"),
    "department_far": ("org_department", "KF"),
    "department_receiving": ("org_department", "KR"),
}
# The members other than member_self, each a member of the branch named.
MEMBER_ACTORS = {
    "member_peer": "B",
    "member_sib_branch": "BS",
    "member_sib_township": "BT",
    "member_far": "BF",
}
TREE = (  # (name, level, parent name); created in this order
    ("P", "province", None),
    ("K", "county", "P"),
    ("T", "township", "K"),
    ("B", "branch", "T"),
    ("BS", "branch", "T"),
    ("TS", "township", "K"),
    ("BT", "branch", "TS"),
    ("KS", "county", "P"),
    ("PF", "province", None),
    ("KF", "county", "PF"),
    ("TF", "township", "KF"),
    ("BF", "branch", "TF"),
    ("PR", "province", None),
    ("KR", "county", "PR"),
    ("TR", "township", "KR"),
    ("BR", "branch", "TR"),
)
REGION = "320102"  # B's region, for /orgs/nearest


def send(method: str, url: str, headers: Headers, body: Any = None, **kwargs: Any) -> requests.Response:
    return requests.request(method, url, json=body, headers=headers, timeout=60, **kwargs)


def expect_ok(response: requests.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json()


@dataclass
class Target:
    """What a row acts on: member_self is `member`, whose token carries `branch`."""

    member: str
    branch: str
    ref: str = ""  # the transfer, task or notification id
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    urls: dict[str, str]
    org: dict[str, str]  # tree name → org code
    members: dict[str, str]  # member actor → member id
    resident: Target  # the default target: a member of B
    # How an actor's token is made: RS256 by the token service's keys on the proof stack.
    sign: Callable[..., Headers] = bearer

    def url(self, service: str, path: str) -> str:
        return f"{self.urls[service]}/api/v1{path}"

    def headers(self, actor: str, target: Target) -> Headers:
        sign = self.sign
        if actor == "member_self":
            return sign("member", target.branch, sub=target.member)
        if actor in MEMBER_ACTORS:
            return sign("member", self.org[MEMBER_ACTORS[actor]], sub=self.members[actor])
        if actor in ORG_ACTORS:
            role, org = ORG_ACTORS[actor]
            return sign(role, self.org[org])
        if actor == "admin":
            return sign("admin", "CN", sub="admin")
        if actor == "service":
            return sign("service", "CN", sub="svc:authz")
        raise KeyError(actor)

    def as_actor(self, actor: str) -> Headers:
        return self.headers(actor, self.resident)

    # --- members ----------------------------------------------------------------------------

    def new_member(self, at: str = "B") -> str:
        body = fresh_member_body(self.org[at])
        return expect_ok(send("POST", self.url("registration", "/members"), ADMIN, body), 201)["id"]

    def member_target(self, at: str = "B") -> Target:
        return Target(self.new_member(at), self.org[at])

    def mobile_member_target(self, at: str = "B") -> Target:
        """A member of `at` with an open outflow; `extra["card"]` is its activity card, which a
        secretary's inflow must carry."""
        target = self.member_target(at)
        outflow = {
            "destination_region": "320102",
            "destination_address": "南京市玄武区",
            "occupation": "工人",
            "departed_on": date.today().isoformat(),
            "reason": "务工",
            "contact_phone": "13912345678",
        }
        url = self.url("registration", f"/members/{target.member}/outflows")
        target.extra["card"] = expect_ok(send("POST", url, ADMIN, outflow), 201)["activity_card_no"]
        return target

    # --- transfers (from B to BR, cross_province: five stages, the receiving county's included) --

    def transfer(self, approvals: int = 0) -> Target:
        """A transfer of a new member of B, applied for by B's secretary, then approved by the
        admin `approvals` times (1: at the township; 3: at the receiving county; 4: at the receiving
        branch; 5: letter issued)."""
        target = self.member_target()
        body = {"member_id": target.member, "to_branch_code": self.org["BR"], "reason": "工作调动"}
        view = expect_ok(
            send("POST", self.url("transfer", "/transfers"), self.as_actor("secretary_own"), body), 201
        )
        target.ref = view["id"]
        for _ in range(approvals):
            view = self.decide(target.ref, "approve")
        target.extra["status"] = view["status"]
        return target

    def decide(self, transfer: str, decision: str, reason: str | None = None) -> dict[str, Any]:
        body = {"decision": decision, **({"reason": reason} if reason else {})}
        return expect_ok(send("POST", self.url("transfer", f"/transfers/{transfer}/decisions"), ADMIN, body))

    def returned_transfer(self) -> Target:
        target = self.transfer()
        assert self.decide(target.ref, "return", "材料不全")["status"] == "returned"
        return target

    # --- tasks (at township T) ---------------------------------------------------------------

    def task(self, publish: bool = True, claimants: tuple[str, ...] = (), complete: bool = False) -> Target:
        """A task of T; `claimants` ("self" for a new member of B, or member actors) claim it in
        order, so the first leads; `complete` has the lead complete it."""
        body = {
            "title": "帮扶独居老人",
            "description": "每周两次上门",
            "org_code": self.org["T"],
            "category": "elderly",
            "capacity": 5,
            "due_on": (date.today() + timedelta(days=30)).isoformat(),
        }
        target = self.member_target()
        target.ref = expect_ok(send("POST", self.url("tasks", "/tasks"), ADMIN, body), 201)["id"]
        if publish:
            expect_ok(send("POST", self.url("tasks", f"/tasks/{target.ref}/publish"), ADMIN))
        for claimant in claimants:
            headers = self.headers("member_self" if claimant == "self" else claimant, target)
            claim = send(
                "POST", self.url("tasks", f"/tasks/{target.ref}/claims"), headers, {"commitment": "我来"}
            )
            expect_ok(claim, 201)
        if complete:
            done = send(
                "POST",
                self.url("tasks", f"/tasks/{target.ref}/complete"),
                self.headers("member_self", target),
                {"summary": "已完成"},
            )
            expect_ok(done)
        return target

    # --- notifications -----------------------------------------------------------------------

    def _first_notification(self, headers: Headers, event_type: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = expect_ok(send("GET", self.url("notify", "/notifications?limit=200"), headers))["items"]
            found = [item["id"] for item in items if item["type"] == event_type]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no {event_type} notification arrived within {timeout:.0f}s")

    def member_notification(self) -> Target:
        """The "you are registered" notice of a new member of B (addressed to the member)."""
        target = self.member_target()
        target.ref = self._first_notification(
            self.headers("member_self", target), "registration.member_created.v1"
        )
        return target

    def branch_notification(self) -> Target:
        """A check-in notice addressed to branch B (its secretaries)."""
        target = self.member_target()
        body = {"member_id": target.member, "branch_code": self.org["B"], "kind": "self"}
        expect_ok(
            send("POST", self.url("registration", "/checkins"), self.headers("member_self", target), body),
            201,
        )
        target.ref = self._first_notification(
            self.as_actor("secretary_own"), "registration.member_checked_in.v1"
        )
        return target

    # --- imports -----------------------------------------------------------------------------

    def import_file(self, row_branch: str = "B") -> Target:
        """A one-row csv ledger for POST /imports/members?branch=B: a new member of `row_branch`."""
        body = fresh_member_body(self.org[row_branch])
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(list(body))
        writer.writerow([str(value) for value in body.values()])
        target = Target(self.resident.member, self.org["B"])
        target.extra["csv"] = buffer.getvalue().encode()
        return target


def build_world(urls: dict[str, str], sign: Callable[..., Headers] = bearer) -> World:
    org: dict[str, str] = {}
    for name, level, parent in TREE:
        code = unique_code(name)
        body = {
            "code": code,
            "name": f"{level}-{code}",
            "level": level,
            "parent_code": org[parent] if parent else "CN",
            "region": REGION if name == "B" else None,
        }
        expect_ok(send("POST", f"{urls['registration']}/api/v1/orgs", ADMIN, body), 201)
        org[name] = code
    world = World(urls, org, {}, Target("", org["B"]), sign)
    world.members = {actor: world.new_member(at) for actor, at in MEMBER_ACTORS.items()}
    world.resident = world.member_target()
    return world


APPROVALS_TO_REACH = {
    "pending_sending_branch": 0,
    "pending_township": 1,
    "pending_county": 2,
    "pending_receiving_county": 3,
    "pending_receiving_branch": 4,
    "letter_issued": 5,
}


def transfer_at(status: str) -> Callable[[World], Target]:
    """A set-up making a transfer that stands at `status`."""

    def make(world: World) -> Target:
        target = world.transfer(APPROVALS_TO_REACH[status])
        assert target.extra["status"] == status, target.extra
        return target

    return make


def relationship_body(world: World) -> dict[str, str]:
    return {"branch_code": world.org["BR"], "transfer_id": uuid.uuid4().hex}
