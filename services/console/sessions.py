"""Server-side console sessions: the cookie carries only a random id; the person, their API token
and the sign-in state live in a table (the console's own SQLite file, or its PostgreSQL schema).

Sign-out deletes the row, so an old cookie stops working; a session ends after 30 minutes idle or
12 hours in all. The id changes at sign-in and sign-out (no fixation), and is stored hashed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import CallbackDict

from shared.db import Database, service_database, utcnow
from shared.settings import Settings, database_url_for

metadata = MetaData()
sessions_table = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("data", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        sid: str | None = None,
        created_at: datetime | None = None,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.created_at = created_at
        self.modified = False
        self.renew = False

    def regenerate(self) -> None:
        """A new id at the next save (sign-in, sign-out): the old cookie no longer opens anything."""
        self.renew = True
        self.modified = True


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back: they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


class ServerSessionInterface(SessionInterface):
    def __init__(self, database: Database, idle: timedelta, absolute: timedelta) -> None:
        self.database = database
        self.idle = idle
        self.absolute = absolute

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 100:
            return ServerSession()
        now = utcnow()
        with self.database.transaction() as connection:
            row = connection.execute(
                select(sessions_table).where(sessions_table.c.id_hash == _hash(sid))
            ).first()
            if row is None:
                return ServerSession()
            created, seen = _aware(row.created_at), _aware(row.last_seen_at)
            if now - seen > self.idle or now - created > self.absolute:
                connection.execute(delete(sessions_table).where(sessions_table.c.id_hash == _hash(sid)))
                return ServerSession()
            connection.execute(
                update(sessions_table).where(sessions_table.c.id_hash == _hash(sid)).values(last_seen_at=now)
            )
        return ServerSession(json.loads(row.data), sid, created)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session.modified:
            return
        with self.database.transaction() as connection:
            if session.sid and (session.renew or not session):
                connection.execute(
                    delete(sessions_table).where(sessions_table.c.id_hash == _hash(session.sid))
                )
                session.sid = None if not session else session.sid
            if not session:
                response.delete_cookie(name, domain=domain, path=path)
                return
            now = utcnow()
            if session.sid is None or session.renew:
                session.sid = secrets.token_urlsafe(32)
                session.created_at = now
                connection.execute(
                    insert(sessions_table).values(
                        id_hash=_hash(session.sid),
                        data=json.dumps(dict(session)),
                        created_at=now,
                        last_seen_at=now,
                    )
                )
            else:
                connection.execute(
                    update(sessions_table)
                    .where(sessions_table.c.id_hash == _hash(session.sid))
                    .values(data=json.dumps(dict(session)), last_seen_at=now)
                )
        response.set_cookie(
            name,
            session.sid,
            httponly=True,
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            path=path,
            domain=domain,
        )


def open_session_store(settings: Settings) -> Database:
    """The console's own database (SQLite under var/, or its schema on PostgreSQL), with its table."""
    url = settings.database_url or database_url_for("console", {}, settings.var_dir)
    settings.var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = service_database(url, "console")
    # Several workers start at once: one may lose the race to create the schema or the table,
    # and then finds it there on its second look.
    for attempt in (1, 2):
        try:
            if not database.is_sqlite:
                with database.engine.begin() as connection:
                    connection.execute(text('CREATE SCHEMA IF NOT EXISTS "console"'))
            metadata.create_all(database.engine)
            break
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.2)
    return database


def end_session(session: SessionMixin) -> None:
    """Sign-out: forget everything; the row is deleted when the response is saved."""
    session.clear()
    if isinstance(session, ServerSession):
        session.regenerate()
