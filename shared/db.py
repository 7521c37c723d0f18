"""SQLAlchemy engine and sessions per service, and Alembic migrations per service.

Each service owns its database: a SQLite file under var/ by default, or its own schema
(named after the service) in the PostgreSQL database of `DATABASE_URL`.
"""

from __future__ import annotations

import os
import secrets
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    Insert,
    MetaData,
    Result,
    Table,
    Update,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.types import TypeDecorator

from shared.sqlite_turns import WriterTurns

if TYPE_CHECKING:
    from shared.settings import Settings

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A time-ordered id (like a ULID, in hex): keyset pagination by id follows creation order."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(5)}"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both databases; SQLite stores them as naive UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class PoolOptions:
    """A PostgreSQL engine's connections, and how its sessions find the service's schema.

    `search_path` "options" sends `-csearch_path=<schema>` at connect; "role" sends nothing, the
    login role carrying `ALTER ROLE … SET search_path` (poolers such as PgBouncer refuse the
    startup option)."""

    size: int = 5
    max_overflow: int = 10
    search_path: str = "options"
    # A connection back from the pool is pinged only after it sat idle this long (see
    # _ping_when_idle); one in steady use is not, which spares a round trip per request.
    ping_idle_seconds: float = 2.0


def make_engine(url: str, schema: str | None = None, pool: PoolOptions | None = None) -> Engine:
    """An engine for one service. On PostgreSQL `schema` becomes the search path (see PoolOptions)."""
    pool = pool or PoolOptions()
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # NUANLIU_SQLITE_BUSY_TIMEOUT_MS lets fault tests see a locked database fail fast (503).
        busy_ms = int(os.environ.get("NUANLIU_SQLITE_BUSY_TIMEOUT_MS", "30000"))
        engine = create_engine(
            url,
            connect_args={"timeout": busy_ms / 1000, "check_same_thread": False},
            hide_parameters=True,  # error logs name the statement, never the personal data bound to it
        )
        _configure_sqlite(engine, busy_ms)
        return engine
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if schema and pool.search_path == "options":
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_recycle=1800,
        hide_parameters=True,  # error logs name the statement, never the personal data bound to it
    )
    _ping_when_idle(engine, pool.ping_idle_seconds)
    return engine


def _turns_file(url: str) -> Path | None:
    """The file beside a SQLite database that its writers lock in turn (None: in memory)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".writers")


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling, pinging only connections that sat idle in the pool.

    `pool_pre_ping` pinged at every checkout: a round trip per request, a tenth of a check-in's.
    A connection in steady use was proven by its last statement moments ago; one idle for longer
    than `idle_seconds` (the server restarted, a firewall dropped it) is pinged, and a failed
    ping raises DisconnectionError, on which the pool replaces it with a fresh connection (the
    SQLAlchemy "pessimistic" recipe). A connection that dies between uses anyway fails its first
    statement: that request gets a 503 and the pool drops every connection older than the
    failure, as it does on any disconnect."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: object, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # new, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"an idle pooled connection failed its ping: {error}") from error


def _configure_sqlite(engine: Engine, busy_ms: int = 30000) -> None:
    # pysqlite's own transaction handling defers BEGIN badly; we emit BEGIN ourselves.
    # Writers take the lock up front (BEGIN IMMEDIATE) so that concurrent read-then-write
    # transactions queue on busy_timeout instead of failing with SQLITE_BUSY.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "DEFERRED":
            # A deferred BEGIN takes no lock, so it cannot meet a busy database: straight to the
            # driver, sparing SQLAlchemy's execution machinery (which costs as much as a read).
            connection.connection.driver_connection.execute("BEGIN DEFERRED")  # type: ignore[union-attr]
            return
        # Through SQLAlchemy: a lock that stays busy surfaces as its OperationalError (a 503).
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One service's engine plus two session factories: writers and readers.

    A use case opens exactly one `transaction()`; read-only views use `reader()`, or `snapshot()`
    for hot reads by prebuilt Core statements.
    """

    def __init__(
        self, url: str, schema: str | None = None, pool_size: int = 5, pool: PoolOptions | None = None
    ) -> None:
        self.url = url
        self.schema = schema if not url.startswith("sqlite") else None
        self.pool = pool or PoolOptions(size=pool_size)
        self.engine = make_engine(url, self.schema, self.pool)
        self._pid = os.getpid()
        # SQLite has one writer at a time: writers take turns (shared.sqlite_turns) rather than
        # sleep in SQLite's busy handler between tries. Reentrant: a writer opened inside another
        # in one thread behaves as before.
        self._write_turns = (
            WriterTurns(_turns_file(url), int(os.environ.get("NUANLIU_SQLITE_BUSY_TIMEOUT_MS", "30000")) / 1000)
            if self.is_sqlite
            else None
        )
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._reader = sessionmaker(self._read_engine, expire_on_commit=False)
        self._observed: _ObservedEngines | None = None

    def observe_statements_when(self, wanted: Callable[[], bool], observe: Callable[[Engine], None]) -> None:
        """Open the sessions and snapshots begun while `wanted()` on a twin of this engine (same
        pool, dialect and statement cache) that `observe` puts its statement listeners on (once
        per database; later calls change nothing).

        An engine with statement listeners makes each of its connections dispatch the events of
        every statement, whether a listener wants it or not (~15 µs a statement on the API's
        path): tracing one request in ten, the other nine would pay it for spans nobody
        records (shared/tracing.py, `instrument_app`)."""
        if self._observed is not None:
            return
        observed = self.engine.execution_options()
        observe(observed)
        self._observed = _ObservedEngines(wanted, observed, observed.execution_options(sqlite_begin="DEFERRED"))

    def _writing_engine(self) -> Engine:
        observed = self._observed
        return observed.writer if observed is not None and observed.wanted() else self.engine

    def _reading_engine(self) -> Engine:
        observed = self._observed
        return observed.reader if observed is not None and observed.wanted() else self._read_engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _after_fork_check(self) -> None:
        # Connections must never cross a fork (gunicorn preload, relays started from a parent).
        if os.getpid() != self._pid:
            self.engine.dispose(close=False)
            self._pid = os.getpid()
            if self._write_turns is not None:
                self._write_turns.after_fork()

    def writer_session(self) -> Session:
        """A new writer session, for a unit of work (shared.uow) that begins and commits it
        inside `write_turn()`."""
        self._after_fork_check()
        return self._writer(bind=self._writing_engine())

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """This writer's turn (SQLite; nothing elsewhere). Waiting longer than the busy timeout
        fails as the database's own lock would: an OperationalError (a 503)."""
        self._after_fork_check()
        turns = self._write_turns
        if turns is None:
            yield
            return
        turns.acquire()
        try:
            yield
        finally:
            turns.release()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        with self.write_turn(), self._writer(bind=self._writing_engine()) as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        self._after_fork_check()
        with self._reader(bind=self._reading_engine()) as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read on a plain connection, without an ORM session: for hot reads by prebuilt
        statements, where the session's bookkeeping costs more than the query."""
        self._after_fork_check()
        with self._reading_engine().connect() as connection, connection.begin():
            yield connection

    def ping(self) -> None:
        self._after_fork_check()
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True, slots=True)
class _ObservedEngines:
    wanted: Callable[[], bool]
    writer: Engine
    reader: Engine


@dataclass(frozen=True)
class PendingInsert:
    """One row for one table, to be written by `write_together`."""

    table: Table
    values: dict[str, Any]

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.table, "insert", tuple(self.values))

    def parameters(self, index: int) -> dict[str, Any]:
        return {f"r{index}_{column}": value for column, value in self.values.items()}


@dataclass(frozen=True)
class PendingUpdate:
    """A change of one row found by its key (`where`), to be written by `write_together`:
    `values` set, and each column of `increments` counted up by one in SQL (never the value read
    plus one, so a change committed meanwhile is counted, not overwritten)."""

    table: Table
    where: dict[str, Any]
    values: dict[str, Any]
    increments: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[Any, ...]:
        return (self.table, "update", tuple(self.where), tuple(self.values), self.increments)

    def parameters(self, index: int) -> dict[str, Any]:
        return {
            **{f"r{index}_{column}": value for column, value in self.values.items()},
            **{f"r{index}_where_{column}": value for column, value in self.where.items()},
        }


PendingWrite = PendingInsert | PendingUpdate


@lru_cache(maxsize=512)
def _statement(index: int, shape: tuple[Any, ...]) -> Insert | Update:
    """One pending write's statement, with named parameters (built once per shape)."""
    table: Table = shape[0]

    def bound(column: str, name: str) -> Any:
        return bindparam(name, type_=table.c[column].type)

    if shape[1] == "insert":
        return table.insert().values({column: bound(column, f"r{index}_{column}") for column in shape[2]})
    _table, _kind, where, columns, increments = shape
    return (
        table.update()
        .where(*(table.c[column] == bound(column, f"r{index}_where_{column}") for column in where))
        .values(
            {
                **{column: bound(column, f"r{index}_{column}") for column in columns},
                **{column: table.c[column] + 1 for column in increments},
            }
        )
    )


@lru_cache(maxsize=256)
def _combined(shape: tuple[tuple[Any, ...], ...]) -> Insert | Update:
    """One statement for writes of these shapes: the first one's, with the others in its WITH
    clause. Built once per shape with named parameters, so each use only binds values."""
    first, *others = shape
    ctes = [_statement(n, other).cte(f"together_{n}") for n, other in enumerate(others, 1)]
    return _statement(0, first).add_cte(*ctes)


def write_together(session: Session, rows: Sequence[PendingWrite]) -> None:
    """Write rows of several tables (inserts, and updates by key) in as few round trips as the
    database allows.

    On PostgreSQL they are one statement (data-modifying CTEs run exactly once, in the same
    snapshot); elsewhere one statement per row, in order. Either way a failing constraint fails
    them all with the same IntegrityError, inside the caller's transaction."""
    # The ORM's pending changes first (rows here may refer to them), then Core on the session's
    # connection: Session.execute would add the ORM's statement handling to each.
    session.flush()
    connection = session.connection()
    if len(rows) < 2 or connection.dialect.name != "postgresql":
        for index, row in enumerate(rows):
            connection.execute(_statement(index, row.shape), row.parameters(index))
        return
    statement = _combined(tuple(row.shape for row in rows))
    connection.execute(
        statement,
        {name: value for index, row in enumerate(rows) for name, value in row.parameters(index).items()},
    )


def ensure_schema(database: Database) -> None:
    """Create the service's schema (shared development URL), or, when the login role brings its
    own search path, check that it leads to the schema: else the tables would land elsewhere."""
    if not database.schema:
        return
    with database.engine.connect() as connection:
        if database.pool.search_path == "role":
            found = connection.execute(text("SELECT current_schema()")).scalar()
            if found != database.schema:
                raise RuntimeError(
                    f"the database role's search_path leads to {found!r}, not {database.schema!r}: "
                    f"ALTER ROLE … SET search_path = {database.schema} (see `nuanliu db roles`)"
                )
            return
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{database.schema}"'))
        connection.commit()


def migrate(database: Database, migrations_dir: Path, revision: str = "head") -> None:
    """Bring one service's database to `revision` with its own Alembic history."""
    from alembic import command

    ensure_schema(database)
    _run_alembic(database, migrations_dir, command.upgrade, revision)


def downgrade(database: Database, migrations_dir: Path, revision: str) -> None:
    """Take one service's database back to `revision` (a migration's down step, as its tests
    walk it)."""
    from alembic import command

    _run_alembic(database, migrations_dir, command.downgrade, revision)


def _run_alembic(
    database: Database, migrations_dir: Path, step: Callable[[Any, str], None], revision: str
) -> None:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
        connection.commit()


def make_revision(database: Database, migrations_dir: Path, message: str) -> None:
    """Autogenerate a new migration for one service (developer command)."""
    from alembic import command
    from alembic.config import Config

    ensure_schema(database)
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    with database.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def run_migrations_online(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def service_database(url: str, service: str, pool_size: int = 5, pool: PoolOptions | None = None) -> Database:
    """A service's database: its own SQLite file, or its own schema on PostgreSQL."""
    return Database(url, schema=service, pool=pool or PoolOptions(size=pool_size))


# Called with every database `database_of` opens in this process (tracing's statement listeners).
_database_observers: list[Callable[[Database], None]] = []


def observe_databases(observer: Callable[[Database], None]) -> None:
    """Call `observer` with each service database this process opens from now on."""
    _database_observers.append(observer)


def database_of(settings: Settings, service: str) -> Database:
    """`service`'s database as `settings` configure it: its URL, pool and search-path mode."""
    pool = PoolOptions(settings.db_pool_size, settings.db_max_overflow, settings.db_search_path)
    database = service_database(settings.database_url, service, pool=pool)
    for observer in _database_observers:
        observer(database)
    return database


def drop_database(admin_engine: Engine, name: str) -> None:
    """Drop a scratch PostgreSQL database (tests, benchmarks), ending its open connections first.

    `admin_engine` must be in AUTOCOMMIT mode: DROP DATABASE cannot run in a transaction.
    """
    with admin_engine.connect() as connection:
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


# Where SettledRows keeps a row's shared read-only copy, beside its column values.
_SHARED_COPY = "__shared_copy__"


class SettledRows(Generic[T]):
    """A process cache of rows that never change once written (create-only rows, such as orgs:
    their code, level and path are fixed at creation), so a hot path does not read them again.

    `get` returns the row as a persistent object of the session, like `session.get`: from the
    session's identity map, else from the cache (attached without a query), else loaded and
    cached. Only rows that exist are cached (a row made later is found then). One cache per
    engine (two schemas of one PostgreSQL database share a URL, never an engine), so tests and
    tools holding several databases never see each other's rows; bounded by `limit` (cleared
    when full: a miss costs one read)."""

    def __init__(self, model: type[T], limit: int = 200_000) -> None:
        self.model = model
        self.limit = limit
        self._columns = [column.key for column in table_of(model).columns]
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[Any, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def peek(self, session: Session, key: Any) -> T | None:
        """The row as a read-only copy shared by this process, never in a session: for hot paths
        that only read its columns (making and attaching an instance per request costs more
        than the rest of reading it). Never change or `add` it."""
        rows = self._by_engine.setdefault(session.get_bind().engine, {})
        values = rows.get(key)
        if values is None:
            found = self.get(session, key)
            if found is None:
                return None
            values = rows.get(key)
            if values is None:
                return found  # the session holds it, loaded by other means: read it there
        shared = values.get(_SHARED_COPY)
        if shared is None:
            shared = self.model(**{column: values[column] for column in self._columns})
            make_transient_to_detached(shared)
            values[_SHARED_COPY] = shared
        return cast(T, shared)

    def get(self, session: Session, key: Any) -> T | None:
        held = session.identity_map.get(identity_key(self.model, key))
        if held is not None:
            return held
        rows = self._by_engine.setdefault(session.get_bind().engine, {})
        values = rows.get(key)
        if values is None:
            found = session.get(self.model, key)
            if found is not None:
                if len(rows) >= self.limit:
                    rows.clear()
                rows[key] = {column: getattr(found, column) for column in self._columns}
            return found
        instance = self.model(**{column: values[column] for column in self._columns})
        make_transient_to_detached(instance)  # as if loaded: no history, nothing to flush
        session.add(instance)
        return instance


def table_of(model: type[Any]) -> Table:
    """The Core table of a mapped class, typed as one (for prebuilt Core statements)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (a conditional update's answer)."""
    return int(cast(CursorResult[Any], result).rowcount)
