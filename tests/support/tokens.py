"""Bearer headers for test identities."""

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET


def bearer(role: str, org: str = "CN", sub: str | None = None, name: str | None = None) -> dict[str, str]:
    token = issue_token(DEV_JWT_SECRET, sub or f"{role}-{org}", role, org, name)
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer("admin", "CN", "admin")
