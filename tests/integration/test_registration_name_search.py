"""The name search through member_name_grams (docs/decisions/0022), over HTTP on the real
database: the grams follow a member's registration, import, name edit and branch move in the
same transaction, and searches of one, two and more characters find exactly the members of the
caller's scope whose names contain the text, a page at a time in id order."""

from __future__ import annotations

import csv
import io
import secrets

import pytest
from sqlalchemy import select, text

from services.registration.app import create_app
from services.registration.domain import name_grams
from services.registration.models import MemberNameGram
from tests.support.builders import id_number, member_body, org_tree, unique_code
from tests.support.tokens import ADMIN, bearer

MEMBERS = "/api/v1/members"
SERVICE = bearer("service", "CN", "svc:transfer")


@pytest.fixture(scope="module")
def database(migrated):
    return migrated("registration")


@pytest.fixture(scope="module")
def client(settings_for, database):
    return create_app(settings_for("registration")).test_client()


def rare_characters(count: int) -> list[str]:
    """Distinct characters of CJK extension A (U+3400…U+4DBF), drawn afresh for each test: no
    other test's member has them, so a nationwide search finds only this test's members."""
    drawn: list[str] = []
    while len(drawn) < count:
        character = chr(0x3400 + secrets.randbelow(0x4DB5 - 0x3400))
        if character not in drawn:
            drawn.append(character)
    return drawn


def new_member(client, branch: str, name: str) -> str:
    response = client.post(MEMBERS, json=member_body(branch, name=name), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def sibling_branch(client, township: str) -> str:
    code = unique_code("BS")
    body = {"code": code, "name": "第二支部", "level": "branch", "parent_code": township}
    assert client.post("/api/v1/orgs", json=body, headers=ADMIN).status_code == 201
    return code


def org_path(client, code: str) -> str:
    return "/" + "/".join(client.get(f"/api/v1/orgs/{code}", headers=ADMIN).get_json()["path"]) + "/"


def grams_of(database, member_id: str) -> set[tuple[str, str]]:
    with database.reader() as session:
        rows = session.execute(
            select(MemberNameGram.gram, MemberNameGram.branch_path).where(
                MemberNameGram.member_id == member_id
            )
        ).all()
    return {(gram, path) for gram, path in rows}


def found(client, q: str, headers=ADMIN, **filters: str) -> list[str]:
    """The ids a search finds, every page followed (two at a time, so the cursor is used)."""
    ids: list[str] = []
    cursor = None
    while True:
        query = {"q": q, "limit": "2", **filters, **({"cursor": cursor} if cursor else {})}
        response = client.get(MEMBERS, query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids


# --- the grams follow the member ------------------------------------------------------------


def test_grams_follow_registration_name_edits_and_branch_moves(client, database):
    codes = org_tree(client, ADMIN)
    other = sibling_branch(client, codes["township"])
    a, b, c, d = rare_characters(4)
    member = new_member(client, codes["branch"], f"{a}{b}{c}")
    home = org_path(client, codes["branch"])
    assert grams_of(database, member) == {(gram, home) for gram in (a, b, c, a + b, b + c)}

    # A name edit (If-Match): the old name's grams go, the new name's come, in that transaction.
    etag = client.get(f"{MEMBERS}/{member}", headers=ADMIN).headers["ETag"]
    edited = client.patch(
        f"{MEMBERS}/{member}", json={"name": f"{d}{b}"}, headers={**ADMIN, "If-Match": etag}
    )
    assert edited.status_code == 200, edited.get_json()
    assert grams_of(database, member) == {(gram, home) for gram in (d, b, d + b)}
    assert found(client, a) == [] and found(client, f"{a}{b}") == []
    assert found(client, f"{d}{b}") == [member] and found(client, d, org=codes["branch"]) == [member]
    # An edit of other fields leaves the grams alone.
    etag = edited.headers["ETag"]
    phone = client.patch(
        f"{MEMBERS}/{member}", json={"phone": "13912340000"}, headers={**ADMIN, "If-Match": etag}
    )
    assert phone.status_code == 200 and grams_of(database, member) == {(gram, home) for gram in (d, b, d + b)}

    # A move of the relationship (a transfer): the grams carry the new branch's path.
    moved = client.post(
        f"{MEMBERS}/{member}/relationship",
        json={"branch_code": other, "transfer_id": unique_code("T")},
        headers=SERVICE,
    )
    assert moved.status_code == 200, moved.get_json()
    there = org_path(client, other)
    assert grams_of(database, member) == {(gram, there) for gram in (d, b, d + b)}
    assert found(client, d, org=codes["branch"]) == []
    assert found(client, d, org=other) == [member]
    assert found(client, d, headers=bearer("branch_secretary", codes["branch"])) == []
    assert found(client, d, headers=bearer("branch_secretary", other)) == [member]
    assert found(client, d, org=codes["township"]) == [member]


def test_imported_members_are_found_by_name(client, database):
    codes = org_tree(client, ADMIN)
    a, b, c = rare_characters(3)
    names = [f"{a}{b}", f"{b}{c}", f"{c}"]
    rows = [
        {
            k: v
            for k, v in member_body(codes["branch"], name=name, id_number=id_number()).items()
            if k != "branch_code"
        }
        for name in names
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    response = client.post(
        f"/api/v1/imports/members?branch={codes['branch']}&dry_run=false",
        data={"file": (io.BytesIO(buffer.getvalue().encode()), "ledger.csv")},
        headers=ADMIN,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    by_name = {
        item["name"]: item["id"]
        for item in client.get(MEMBERS, query_string={"branch": codes["branch"]}, headers=ADMIN).get_json()[
            "items"
        ]
    }
    home = org_path(client, codes["branch"])
    for name in names:
        assert grams_of(database, by_name[name]) == {(gram, home) for gram in name_grams(name)}
    assert set(found(client, b)) == {by_name[names[0]], by_name[names[1]]}
    assert found(client, f"{b}{c}", org=codes["county"]) == [by_name[names[1]]]


# --- searches of one, two and more characters within scope ------------------------------------


def test_searches_of_one_two_and_more_characters_stay_within_scope(client):
    here = org_tree(client, ADMIN)
    beside = sibling_branch(client, here["township"])
    elsewhere = org_tree(client, ADMIN)
    a, b, c, d, e = rare_characters(5)
    m = {
        "abc": new_member(client, here["branch"], f"王{a}{b}{c}"),
        "ac": new_member(client, here["branch"], f"{a}{c}"),
        "b": new_member(client, here["branch"], f"李{b}"),
        "ab beside": new_member(client, beside, f"{a}{b}"),
        # Every pair of "abc" (ab, bc) but not the text itself: the candidates are verified.
        "bcab": new_member(client, here["branch"], f"{b}{c}{a}{b}"),
        "abcde": new_member(client, here["branch"], f"{e}{a}{b}{c}{d}{e}{a}"),
        "abc elsewhere": new_member(client, elsewhere["branch"], f"{a}{b}{c}"),
    }

    def ids(*keys: str) -> list[str]:
        return sorted(m[key] for key in keys)

    township = bearer("township_officer", here["township"])
    secretary = bearer("branch_secretary", here["branch"])
    # One character: the character index, within the caller's subtree or the org asked for.
    assert found(client, a, headers=township) == ids("abc", "ac", "ab beside", "bcab", "abcde")
    assert found(client, a, headers=secretary) == ids("abc", "ac", "bcab", "abcde")
    assert found(client, a, org=beside) == ids("ab beside")
    assert found(client, a, org=here["county"]) == ids("abc", "ac", "ab beside", "bcab", "abcde")
    assert found(client, a) == ids("abc", "ac", "ab beside", "bcab", "abcde", "abc elsewhere")
    assert found(client, a, org=elsewhere["province"]) == ids("abc elsewhere")
    # Two characters: one pair.
    assert found(client, a + b, headers=township) == ids("abc", "ab beside", "bcab", "abcde")
    assert found(client, a + c, org=here["province"]) == ids("ac")
    assert found(client, c + a) == ids("bcab")
    assert found(client, b + a) == []
    # Three and more: every pair, then the whole text.
    assert found(client, a + b + c) == ids("abc", "abcde", "abc elsewhere")
    assert found(client, a + b + c, headers=township) == ids("abc", "abcde")
    assert found(client, f"王{a}{b}{c}", org=here["branch"]) == ids("abc")
    assert found(client, f"{a}{b}{c}{d}{e}{a}") == ids("abcde")
    assert found(client, f"{a}{b}{c}{d}{e}{b}") == []
    # A member out of the caller's scope is never found, however exact the text.
    assert found(client, a + b + c, headers=bearer("branch_secretary", beside)) == []
    # Filters still apply beside the text.
    assert found(client, a, org=here["township"], mobile="true") == []
    assert found(client, a, branch=here["branch"], lost_contact="false") == ids("abc", "ac", "bcab", "abcde")


def test_the_name_search_reads_the_gram_indexes(client, database):
    """The statement the search runs, explained: its grams come from a gram index and the members
    by their key; nothing is scanned. On SQLite a subtree reads the scope index and the nation
    the primary key (the query says so); PostgreSQL picks between the two by its statistics."""
    from services.registration.queries import _name_matches

    codes = org_tree(client, ADMIN)
    path = org_path(client, codes["county"])
    with database.reader() as session:
        dialect = session.get_bind().dialect
        plans = {}
        for scope in (path, None):
            statement = _name_matches(session, scope, False, [], "王小明", None, 51)
            sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            if dialect.name == "postgresql":
                # Tiny test tables make a sequential scan the cheapest: ask which index serves.
                session.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
            else:
                plan = "\n".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            plans[scope] = plan
    for plan in plans.values():
        assert "Seq Scan" not in plan and "SCAN " not in plan, plan
    if dialect.name == "postgresql":
        for plan in plans.values():
            assert "pk_members" in plan, plan
            assert "pk_member_name_grams" in plan or "ix_member_name_grams_scope" in plan, plan
    else:
        assert "member_name_grams_1 USING COVERING INDEX ix_member_name_grams_scope" in plans[path], plans[path]
        assert "member_name_grams_1 USING PRIMARY KEY (gram=?)" in plans[None], plans[None]
        for plan in plans.values():
            assert "members USING INDEX sqlite_autoindex_members_1 (id=?)" in plan, plan
