"""The registration service's own tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.db import UTCDateTime, new_metadata
from shared.idempotency import idempotency_table
from shared.outbox import Outbox, outbox_table


class Base(DeclarativeBase):
    metadata = new_metadata()


class Org(Base):
    __tablename__ = "orgs"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("orgs.code"), index=True)
    # Materialized path "/CN/TJ/.../CODE/": a subtree is a prefix match on an indexed column.
    path: Mapped[str] = mapped_column(String(500))
    region: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_orgs_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_orgs_region", "region", postgresql_ops={"region": "text_pattern_ops"}),
    )

    @property
    def path_codes(self) -> list[str]:
        return [code for code in self.path.split("/") if code]


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    # The old name is loaded before a change, so the name search's grams can be replaced (name_grams.py).
    name: Mapped[str] = mapped_column(String(100), active_history=True)
    gender: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    branch_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    branch_path: Mapped[str] = mapped_column(String(500))
    joined_on: Mapped[date] = mapped_column(Date)
    dues_paid_through: Mapped[str] = mapped_column(String(7))
    mobile: Mapped[bool] = mapped_column(Boolean, default=False)
    lost_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    occupation: Mapped[str | None] = mapped_column(String(200))
    employer: Mapped[str | None] = mapped_column(String(200))
    current_address: Mapped[str | None] = mapped_column(String(300))
    departed_on: Mapped[date | None] = mapped_column(Date)
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped by every change of the member's record (MemberRecord.version): the member's ETag;
    # PATCH writes only where it still holds the version the caller read (If-Match).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The latest outflow's card and the open inflow's branch, denormalised for the ledger. The
    # inflow branch and its path are NULL once that inflow ends (a return, a move, a new inflow):
    # the inflow side reads and lists members by the path (双向管理).
    activity_card_no: Mapped[str | None] = mapped_column(String(40))
    destination_region: Mapped[str | None] = mapped_column(String(40))
    inflow_branch_code: Mapped[str | None] = mapped_column(String(40))
    inflow_branch_path: Mapped[str | None] = mapped_column(String(500))
    arrived_on: Mapped[date | None] = mapped_column(Date)
    # HMAC of the normalized ID number (domain.id_number_hash): the exact search's key.
    id_number_hash: Mapped[str | None] = mapped_column(String(64))
    # The China date the sweep found the member lost (NULL while in contact): a lost episode.
    lost_contact_since: Mapped[date | None] = mapped_column(Date)
    # When the suspension-due event of the current episode went out (once per episode).
    suspension_due_on: Mapped[date | None] = mapped_column(Date)
    standing: Mapped[str] = mapped_column(String(20), default="normal", server_default="normal")

    __table_args__ = (
        # On PostgreSQL it carries what the dashboards count, so a province's breakdown reads
        # the index alone (migration 0009).
        Index(
            "ix_members_branch_path_id",
            "branch_path",
            "id",
            postgresql_ops={"branch_path": "text_pattern_ops"},
            postgresql_include=["mobile", "standing", "lost_contact", "dues_paid_through", "destination_region"],
        ),
        Index("ix_members_branch_id", "branch_code", "id"),
        # The inflow side's lists and ledger: a prefix of the open inflow's branch path.
        Index(
            "ix_members_inflow_path_id",
            "inflow_branch_path",
            "id",
            postgresql_ops={"inflow_branch_path": "text_pattern_ops"},
        ),
        # The daily sweep looks only at members still in contact, oldest contact first.
        Index("ix_members_contact", "lost_contact", "last_contact_at"),
        Index("ix_members_id_number_hash", "id_number_hash"),
    )


class MemberNameGram(Base):
    """The name search's index (docs/decisions/0022): one row per character and per adjacent
    character pair of a member's name (domain.name_grams), with the member's branch path.
    Written in the unit of work that writes the name or the branch (name_grams.py)."""

    __tablename__ = "member_name_grams"

    gram: Mapped[str] = mapped_column(String(2), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    branch_path: Mapped[str] = mapped_column(String(500))

    __table_args__ = (
        # The primary key walks one gram's members in id order, the path beside each (INCLUDE
        # on PostgreSQL; on SQLite the table is that tree): a wide scope pages by id and tests
        # the path in the index, however common the gram (王: a tenth of all members).
        PrimaryKeyConstraint("gram", "member_id", postgresql_include=["branch_path"]),
        # Within a subtree: a range of (gram, path prefix), a few rows sorted by id afterwards.
        Index(
            "ix_member_name_grams_scope",
            "gram",
            "branch_path",
            "member_id",
            postgresql_ops={"branch_path": "text_pattern_ops"},
        ),
        {"sqlite_with_rowid": False},
    )


class Checkin(Base):
    __tablename__ = "checkins"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    branch_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A check-in by scanning a station's code: the station, and the China day of the scan. Both
    # NULL otherwise (NULLs never collide in a unique index, so other check-ins are unconstrained).
    station_code: Mapped[str | None] = mapped_column(String(40))
    station_day: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_checkins_member_id", "member_id", "id"),
        Index("ix_checkins_branch_id", "branch_code", "id"),
        # One scan check-in per member, station and China day: the database decides a race.
        UniqueConstraint("member_id", "station_code", "station_day", name="uq_checkins_station_day"),
        Index("ix_checkins_station_at", "station_code", "occurred_at"),
        # Coverage: was a member reached within a month (member, then time range).
        Index("ix_checkins_member_at", "member_id", "occurred_at"),
    )


class Station(Base):
    """A place members scan into (流动党员之家, 驿站, 服务站), run by a host branch or township."""

    __tablename__ = "stations"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    host_org_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    # The host org's materialized path: a subtree's stations are a prefix match.
    host_path: Mapped[str] = mapped_column(String(500))
    region: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # floor(latitude × 10): the station's 0.1° (about 11 km) latitude band, for the nearest search.
    lat_band: Mapped[int | None] = mapped_column(Integer)
    open_hours: Mapped[str | None] = mapped_column(String(200))
    # The station's own signing key (hex) and its version; rotation replaces both.
    qr_key: Mapped[str] = mapped_column(String(64))
    key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_stations_host_path", "host_path", postgresql_ops={"host_path": "text_pattern_ops"}),
        Index("ix_stations_region", "region", postgresql_ops={"region": "text_pattern_ops"}),
        # Nearest by distance: one short index range per latitude band, over the box's longitudes
        # (an index on latitude alone would read the whole width of the country per band).
        Index("ix_stations_band_lon", "lat_band", "longitude"),
    )


class Outflow(Base):
    """凡出必报: one reported departure, with the activity card issued for it."""

    __tablename__ = "outflows"
    # The entry's kind in a member's mobility history (not a column).
    kind: ClassVar[str] = "outflow"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    branch_code: Mapped[str] = mapped_column(String(40))
    county_code: Mapped[str] = mapped_column(String(40))
    activity_card_no: Mapped[str] = mapped_column(String(40))
    destination_region: Mapped[str] = mapped_column(String(40))
    destination_address: Mapped[str] = mapped_column(String(300))
    occupation: Mapped[str] = mapped_column(String(200))
    employer: Mapped[str | None] = mapped_column(String(200))
    departed_on: Mapped[date] = mapped_column(Date)
    expected_return_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    contact_phone: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # NULL while the outflow is open. Closed by the member's return ("returned"), by a move of
    # the relationship ("moved"), or, for outflows from before returns existed, by a later
    # outflow ("superseded").
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_reason: Mapped[str | None] = mapped_column(String(20))
    closed_by: Mapped[str | None] = mapped_column(String(80))
    close_note: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("county_code", "activity_card_no", name="uq_outflows_county_card"),
        Index("ix_outflows_member_id", "member_id", "id"),
        # One open outflow per member: the database decides a race of two registrations.
        Index(
            "uq_outflows_open_member",
            "member_id",
            unique=True,
            sqlite_where=text("closed_on IS NULL"),
            postgresql_where=text("closed_on IS NULL"),
        ),
    )


class Inflow(Base):
    """凡进必登: an arrival registered at the inflow branch, with its contact person."""

    __tablename__ = "inflows"
    kind: ClassVar[str] = "inflow"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    branch_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    home_branch_code: Mapped[str] = mapped_column(String(40))
    arrived_on: Mapped[date] = mapped_column(Date)
    current_address: Mapped[str] = mapped_column(String(300))
    occupation: Mapped[str] = mapped_column(String(200))
    employer: Mapped[str | None] = mapped_column(String(200))
    contact_person: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # NULL while the member is there: ended by a return, a move of the relationship, or the
    # member's next inflow elsewhere.
    ended_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_inflows_member_id", "member_id", "id"),
        # One open inflow per member ("open inflow" is one branch, never two).
        Index(
            "uq_inflows_open_member",
            "member_id",
            unique=True,
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
    )


class DuesPayment(Base):
    """A dues payment (党费) a secretary recorded: it moves the member's dues_paid_through."""

    __tablename__ = "dues_payments"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    paid_through: Mapped[str] = mapped_column(String(7))
    # Yuan with fen: a Decimal end to end, never a float.
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2, asdecimal=True))
    paid_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_dues_payments_member_id", "member_id", "id"),)


class ContactAttempt(Base):
    """One attempt to reach a member (找寻): by phone, a visit, a relative…, reached or not."""

    __tablename__ = "contact_attempts"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    method: Mapped[str] = mapped_column(String(20))
    result: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The org the recorder acted for, and the member's inflow branch when that side recorded it.
    recorder_org_code: Mapped[str] = mapped_column(String(40))
    inflow_branch_code: Mapped[str | None] = mapped_column(String(40))
    recorded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_contact_attempts_member_id", "member_id", "id"),
        # Coverage: was a member reached within a month (member, then time range).
        Index("ix_contact_attempts_member_at", "member_id", "attempted_at"),
    )


class StandingDecision(Base):
    """An org department's decision on a member's standing (停止党籍, 恢复, 除名)."""

    __tablename__ = "standing_decisions"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    standing: Mapped[str] = mapped_column(String(20))
    previous_standing: Mapped[str] = mapped_column(String(20))
    new_standing: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    decided_on: Mapped[date] = mapped_column(Date)
    decided_by: Mapped[str] = mapped_column(String(80))
    decided_by_org_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_standing_decisions_member_id", "member_id", "id"),)


class CoverageReminder(Base):
    """A branch reminded of its members not reached in a month (每月一摸排): once per month."""

    __tablename__ = "coverage_reminders"

    branch_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    not_reached: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CardCounter(Base):
    """The last activity card number issued per county and year (numbers are sequential)."""

    __tablename__ = "card_counters"

    county_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_no: Mapped[int] = mapped_column(Integer)


class RelationshipMove(Base):
    """One move of a member's relationship, keyed by the transfer that caused it (idempotency)."""

    __tablename__ = "relationship_moves"

    transfer_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    from_branch_code: Mapped[str] = mapped_column(String(40))
    to_branch_code: Mapped[str] = mapped_column(String(40))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffAssignment(Base):
    """Who holds which role in which org: the staff directory the token service reads.

    `subject` is the person's `sub` at the OpenID provider; a person may hold roles in several orgs."""

    __tablename__ = "staff"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    org_code: Mapped[str] = mapped_column(ForeignKey("orgs.code"))
    subject: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    assigned_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("org_code", "subject", "role", name="uq_staff_org_subject_role"),
        Index("ix_staff_subject", "subject"),
    )


class OneTimeCode(Base):
    """An SMS sign-in code, kept only as a hash; one row per request (the rows count the rate)."""

    __tablename__ = "otp_codes"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    # The phone as an HMAC, so the table is no phone list (the rate limit needs only equality).
    phone_hash: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str | None] = mapped_column(String(26))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_otp_codes_phone_created", "phone_hash", "created_at"),)


outbox = Outbox(outbox_table(Base.metadata), "registration")
audit_log = audit_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)
