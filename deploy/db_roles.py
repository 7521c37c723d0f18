"""One PostgreSQL login role per service, owning its schema and finding it by its own search path.

`nuanliu db roles` runs this as an administrator of the shared database (the `DATABASE_URL` of
development). Afterwards each service can connect as `nuanliu_<service>` with
`NUANLIU_DB_SEARCH_PATH=role`: no libpq `options` at connect (PgBouncer refuses it), and no
service can read or change another's tables. Safe to run again: roles and schemas are created
once, ownership and the search path are set every time (tables migrated earlier by the
administrator move to the role, so its later migrations may alter them)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from shared.settings import SERVICES, normalise_postgres_url


@dataclass(frozen=True)
class ServiceRole:
    service: str
    role: str
    url: str  # the service's database URL as this role (password left out)


def role_name(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    return f"nuanliu_{service}"


def ensure_roles(admin_url: str, services: Iterable[str] = SERVICES) -> list[ServiceRole]:
    """Create (or bring up to date) each service's role and schema; returns how to connect.

    A role's password, if any, comes from `NUANLIU_DB_PASSWORD_<SERVICE>` (trust or peer
    authentication needs none)."""
    url = make_url(normalise_postgres_url(admin_url))
    if not url.drivername.startswith("postgresql"):
        raise ValueError("per-service roles need a PostgreSQL DATABASE_URL")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    made: list[ServiceRole] = []
    try:
        with engine.connect() as connection:
            for service in services:
                role = role_name(service)
                _ensure_role(connection, role, os.environ.get(f"NUANLIU_DB_PASSWORD_{service.upper()}"))
                _own_schema(connection, role, service)
                made.append(
                    ServiceRole(service, role, url.set(username=role, password=None).render_as_string())
                )
    finally:
        engine.dispose()
    return made


def _ensure_role(connection: Connection, role: str, password: str | None) -> None:
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if not exists:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    if password:
        # A literal, not a bind parameter: utility statements take no parameters.
        quoted = connection.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
        connection.execute(text(f'ALTER ROLE "{role}" PASSWORD {quoted}'))


def _own_schema(connection: Connection, role: str, schema: str) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"'))
    connection.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"'))
    # What the administrator migrated before the role existed becomes the role's: tables first
    # (their own sequences follow them), then any sequence left.
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for relkinds in (("r", "p", "v", "m"), ("S",)):
        for name, kind in connection.execute(
            text(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind = ANY(:k) AND pg_get_userbyid(c.relowner) <> :r"
            ),
            {"s": schema, "k": list(relkinds), "r": role},
        ).all():
            connection.execute(text(f'ALTER {kinds[kind]} "{schema}"."{name}" OWNER TO "{role}"'))
    connection.execute(text(f'ALTER ROLE "{role}" SET search_path = "{schema}"'))
    # Nothing in public for a service role: its tables live in its schema only.
    connection.execute(text(f'REVOKE CREATE ON SCHEMA public FROM "{role}"'))
