"""The one place that turns a login into a token: the seam where production OIDC will go.

In development a person picks a demo identity (the org roles of the seeded org tree, or a
seeded member) and the console signs a token with the development secret. Production refuses
this path: OIDC is out of scope, and a dev-signed token must never be issued there.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from services.console.backend import ApiError, Backend, items_of
from shared.auth import ORG_ROLES, ROLES, issue_token, service_token
from shared.settings import Settings


@dataclass(frozen=True)
class Identity:
    sub: str
    role: str
    org: str
    name: str

    def as_session(self) -> dict[str, str]:
        return asdict(self)


# The org roles of deploy/seed.py's tree, as the people in the news reports hold them.
DEMO_IDENTITIES: tuple[Identity, ...] = (
    Identity("sec-wq-yc-01", "branch_secretary", "TJ-WQ-YC-01", "王书记（武清杨村第一社区）"),
    Identity("officer-wq-yc", "township_officer", "TJ-WQ-YC", "张委员（武清杨村街道）"),
    Identity("dept-wq", "org_department", "TJ-WQ", "武清区委组织部"),
    Identity("sec-lc-md-sx", "branch_secretary", "HB-LC-MD-SX", "刘书记（谋道驻绍兴支部）"),
    Identity("officer-lc-md", "township_officer", "HB-LC-MD", "陈委员（利川谋道镇）"),
    Identity("officer-lc-dt", "township_officer", "HB-LC-DT", "周委员（利川都亭街道）"),
    Identity("dept-lc", "org_department", "HB-LC", "利川市委组织部"),
    Identity("sec-pt-sf-01", "branch_secretary", "FJ-PT-BA-SF-01", "林书记（北岸山亭港里村）"),
    Identity("dept-pt-ba", "org_department", "FJ-PT-BA", "北岸经济开发区党工委组织部"),
    Identity("sec-bj-wj-01", "branch_secretary", "BJ-CY-WJ-01", "赵书记（望京流动党员服务站）"),
    Identity("dept-bj-cy", "org_department", "BJ-CY", "朝阳区委组织部"),
    Identity("sec-sh-zj-01", "branch_secretary", "SH-PD-ZJ-01", "孙书记（张江流动党员支部）"),
    Identity("admin", "admin", "CN", "系统管理员"),
)
DEMO_MEMBER_BRANCHES = ("TJ-WQ-YC-01", "TJ-WQ-XZ-01", "HB-LC-MD-SX", "FJ-PT-BA-SF-01", "QH-XN-HY-CG-01")


class SignInRefused(Exception):
    """The identity cannot sign in here; the message says why in plain words."""


def dev_sign_in_allowed(settings: Settings) -> bool:
    return not settings.is_production


def directory(settings: Settings) -> Backend:
    """The console's own service identity, used only to look up who someone is at sign-in."""
    return Backend(settings, service_token(settings.jwt_secret, "console"))


def demo_members(settings: Settings, per_branch: int = 5) -> list[Identity]:
    """Members of the demo branches, so a tester can be one; empty when registration cannot list them.

    Asked in parallel with a short timeout and kept for a minute: the sign-in page must come up
    at once even when registration is slow.
    """
    cached = _demo_cache.get("members")
    if cached and time.monotonic() - cached[0] < 60:
        return cached[1]
    backend = directory(settings)

    def members_of(branch: str) -> list[Identity]:
        try:
            page = backend.get("/api/v1/members", {"branch": branch, "limit": per_branch}, timeout=2.0)
        except ApiError:
            return []
        return [Identity(m["id"], "member", m["branch_code"], m["name"]) for m in items_of(page)]

    with ThreadPoolExecutor(len(DEMO_MEMBER_BRANCHES)) as pool:
        found = [identity for batch in pool.map(members_of, DEMO_MEMBER_BRANCHES) for identity in batch]
    _demo_cache["members"] = (time.monotonic(), found)
    return found


_demo_cache: dict[str, tuple[float, list[Identity]]] = {}


def member_identity(settings: Settings, member_id: str) -> Identity:
    """A member signs in as themself: their branch and name come from registration."""
    try:
        member = directory(settings).get(f"/api/v1/members/{member_id}")
    except ApiError as error:
        if error.status in (404, 422):
            raise SignInRefused("没有这个党员编号 / no member with that id") from error
        raise
    return Identity(member["id"], "member", member["branch_code"], member["name"])


def custom_identity(sub: str, role: str, org: str, name: str) -> Identity:
    if role not in ROLES or role == "service":
        raise SignInRefused("请选择角色 / choose a role")
    if not sub.strip() or not org.strip():
        raise SignInRefused("用户标识和组织代码必填 / user id and org code are required")
    if role in ORG_ROLES or role == "admin":
        return Identity(sub.strip(), role, org.strip().upper(), name.strip() or sub.strip())
    raise SignInRefused("党员请用党员编号登录 / members sign in with their member id")


def token_for(settings: Settings, identity: Identity) -> str:
    if not dev_sign_in_allowed(settings):
        raise SignInRefused("生产环境须通过统一身份认证登录 / production sign-in goes through OIDC")
    return issue_token(settings.jwt_secret, identity.sub, identity.role, identity.org, identity.name)
