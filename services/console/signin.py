"""The development shortcut of sign-in: a demo identity, a token signed with the dev secret.

In development a person picks a demo identity (the org roles of the seeded org tree), types a
member id, or names a role; the console signs a token with the development secret. Production
refuses this path: people sign in through the OpenID provider or an SMS code
(`views_signin`), and a dev-signed token is never issued there. No member is ever listed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from services.console.backend import ApiError, Backend, api_path
from shared.auth import ORG_ROLES, ROLES, issue_token
from shared.errors import Unavailable
from shared.orgs import ServiceCredentials, credentials_of
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


class SignInRefused(Exception):
    """The identity cannot sign in here; the message is the catalogue key of the reason."""


def dev_sign_in_allowed(settings: Settings) -> bool:
    return not settings.is_production


def directory(settings: Settings) -> Backend:
    """The console's own service identity (org names, who someone is at a development sign-in):
    its client credentials at the token service (`NUANLIU_CLIENT_SECRET`, required in
    production), else the development token."""
    key = settings.url_of("registration")
    credentials = _credentials.get(key)
    if credentials is None:
        credentials = _credentials[key] = credentials_of(settings, "console")
    try:
        token = credentials.token()
    except Unavailable as error:
        raise ApiError(503, str(error)) from error
    return Backend(settings, token)


_credentials: dict[str, ServiceCredentials] = {}


def member_identity(settings: Settings, member_id: str) -> Identity:
    """A member signs in as themself: their branch and name come from registration."""
    try:
        member = directory(settings).get(api_path("/api/v1/members/{}", member_id), {"masked": "true"})
    except ApiError as error:
        if error.status in (404, 422):
            raise SignInRefused("signin.err_no_member") from error
        raise
    return Identity(member["id"], "member", member["branch_code"], member["name"])


def custom_identity(sub: str, role: str, org: str, name: str) -> Identity:
    if role not in ROLES or role == "service":
        raise SignInRefused("signin.err_role")
    if not sub.strip() or not org.strip():
        raise SignInRefused("signin.err_sub_org")
    if role in ORG_ROLES or role == "admin":
        return Identity(sub.strip(), role, org.strip().upper(), name.strip() or sub.strip())
    raise SignInRefused("signin.err_member_id")


def token_for(settings: Settings, identity: Identity) -> str:
    if not dev_sign_in_allowed(settings):
        raise SignInRefused("signin.err_production")
    return issue_token(settings.jwt_secret, identity.sub, identity.role, identity.org, identity.name)
