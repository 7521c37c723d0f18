"""The ledger of a large subtree on PostgreSQL: 100,000 mobile members, streamed from a
server-side cursor, with the process's memory staying flat while it streams."""

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from services.registration.app import create_app
from services.registration.domain import id_check_digit
from services.registration.models import Member
from shared.db import new_id
from tests.support.builders import org_tree
from tests.support.tokens import ADMIN, bearer

MOBILE = 100_000
SETTLED = 5_000
COLUMNS = (
    "id", "name", "gender", "birth_date", "id_number", "phone", "status", "branch_code", "branch_path",
    "joined_on", "dues_paid_through", "mobile", "lost_contact", "last_contact_at", "occupation",
    "current_address", "departed_on", "contact_phone", "activity_card_no", "created_at", "version",
)  # fmt: skip


def backend_queries(database) -> list[str]:
    """What the other sessions of this test database are running (a named cursor shows as FETCH)."""
    with database.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT query FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


@pytest.fixture(scope="module")
def client(settings_for, migrated, test_databases):
    if not test_databases.is_postgres:
        pytest.skip("the large ledger runs on PostgreSQL (set TEST_DATABASE_URL)")
    migrated("registration")
    return create_app(settings_for("registration")).test_client()


def copy_members(database, branch: str, branch_path: str) -> None:
    """COPY generated members in (row by row from a generator, so the test itself stays small)."""
    now = datetime.now(UTC)
    born = date(1988, 3, 9)
    with database.engine.raw_connection() as raw:
        columns = ", ".join(COLUMNS)
        with (
            raw.driver_connection.cursor() as cursor,
            cursor.copy(f"COPY members ({columns}) FROM STDIN") as copy,
        ):
            for n in range(MOBILE + SETTLED):
                first17 = f"{700000 + n // 1000:06d}{born:%Y%m%d}{n % 1000:03d}"
                mobile = n < MOBILE
                copy.write_row(
                    (
                        new_id(), f"成员{n}", "female" if n % 2 else "male", born,
                        first17 + id_check_digit(first17), f"139{n:08d}", "full", branch, branch_path,
                        date(2010, 7, 1), "2026-10", mobile, False, now,
                        "务工" if mobile else None, "浙江省绍兴市" if mobile else None,
                        now.date() - timedelta(days=30) if mobile else None,
                        f"138{n:08d}" if mobile else None,
                        f"LC-2026-{n:06d}" if mobile else None, now, 1,
                    )
                )  # fmt: skip
        raw.commit()


def test_ledger_streams_100k_members_with_flat_memory(client, migrated):
    codes = org_tree(client, ADMIN)
    database = migrated("registration")
    branch_path = (
        "/" + "/".join(["CN", codes["province"], codes["county"], codes["township"], codes["branch"]]) + "/"
    )
    copy_members(database, codes["branch"], branch_path)
    with database.reader() as session:
        assert (
            session.scalar(select(func.count()).where(Member.branch_code == codes["branch"]))
            == MOBILE + SETTLED
        )

    officer = bearer("township_officer", codes["township"])
    response = client.get(
        f"/api/v1/ledger?org={codes['township']}&format=csv", headers=officer, buffered=False
    )
    assert response.status_code == 200 and response.is_streamed
    rows = 0
    tail = ""
    tracemalloc.start()
    for number, chunk in enumerate(response.response):
        text = tail + chunk.decode()
        lines = text.split("\r\n")
        tail = lines.pop()
        rows += len(lines)
        if number == 20:
            # Twenty batches in: a server-side cursor is open, and Python holds only a batch or two.
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert peak < 30 * 2**20, f"{peak / 2**20:.0f} MiB held while streaming"
            assert any(query.startswith("FETCH") for query in backend_queries(database))
    response.close()
    print(
        f"ledger: {rows - 2} rows streamed; peak Python memory in the first 20 batches {peak / 2**20:.1f} MiB"
    )
    assert rows == 2 + MOBILE  # the title, the header and every mobile member, none of the settled ones

    sample = client.get(f"/api/v1/ledger?org={codes['branch']}&format=csv", headers=officer, buffered=False)
    stream = iter(sample.response)
    head = (next(stream) + next(stream)).decode()  # the header chunk, then the first batch of rows
    sample.close()
    title, rest = head.lstrip("\ufeff").split("\r\n", 1)
    assert title.startswith("流动党员台账（")
    first = next(csv.DictReader(io.StringIO(rest)))
    assert first["从事职业"] == "务工" and first["联系电话"].startswith("138****")
