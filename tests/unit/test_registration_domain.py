"""Pure registration rules: routes from trees that may skip levels, card numbers, member rules."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain import (
    LEVELS,
    NewMember,
    activity_card_no,
    ancestors_by_level,
    card_issuer,
    check_new_member,
    check_org_placement,
    classify_route,
    id_check_digit,
    id_number_problem,
    member_problems,
    name_grams,
    region_prefixes,
    search_grams,
)
from shared.errors import Conflict, InvalidInput


@st.composite
def branch_places(draw: st.DrawFn) -> dict[str, str]:
    """A branch's ancestors by level in a small world where city and township may be skipped."""
    province = draw(st.sampled_from(["P1", "P2"]))
    place = {"central": "CN", "province": province, "branch": f"B{draw(st.integers(0, 3))}"}
    if draw(st.booleans()):
        place["city"] = f"{province}-C{draw(st.integers(0, 1))}"
    place["county"] = f"{province}-K{draw(st.integers(0, 1))}"
    if draw(st.booleans()):
        place["township"] = f"{place['county']}-T{draw(st.integers(0, 1))}"
    return place


@given(branch_places(), branch_places())
def test_route_depends_only_on_province_and_county(a, b):
    route = classify_route(a, b)
    assert route == classify_route(b, a)
    if a["province"] != b["province"]:
        assert route == "cross_province"
    elif a["county"] != b["county"]:
        assert route == "cross_county"
    else:
        assert route == "same_county"


@given(branch_places())
def test_a_branch_is_same_county_as_itself_and_sides_list_every_level(place):
    assert classify_route(place, place) == "same_county"
    side = ancestors_by_level(place)
    assert list(side) == ["branch", "township", "county", "city", "province"]
    assert side["city"] == place.get("city") and side["township"] == place.get("township")


def test_card_numbers_are_issued_by_the_county_and_zero_padded():
    assert activity_card_no("TJ-WQ", 2026, 123) == "WQ-2026-000123"
    assert (
        card_issuer({"province": "QH", "city": "QH-XN", "county": "QH-XN-HY", "township": "T"}) == "QH-XN-HY"
    )
    assert card_issuer({"province": "BJ", "township": "BJ-T"}) == "BJ"
    with pytest.raises(InvalidInput):
        card_issuer({"central": "CN"})
    with pytest.raises(Conflict):
        activity_card_no("TJ-WQ", 2026, 1_000_000)


@given(st.integers(1, 999_998), st.integers(2000, 2100))
def test_card_numbers_sort_in_issue_order(number, year):
    assert activity_card_no("X-WQ", year, number) < activity_card_no("X-WQ", year, number + 1)


def test_region_prefixes_go_from_deepest_to_province():
    assert region_prefixes("330602") == ["330602", "33060", "3306", "330", "33"]


def test_placement_needs_a_lower_level_than_the_parent():
    for parent_index, parent in enumerate(LEVELS):
        for child in LEVELS[1:]:
            if LEVELS.index(child) > parent_index:
                check_org_placement(child, parent)
            else:
                with pytest.raises(InvalidInput):
                    check_org_placement(child, parent)


def member(**changes: object) -> NewMember:
    first17 = "11010519900517123"
    values: dict[str, object] = {
        "name": "张三",
        "gender": "male",
        "birth_date": date(1990, 5, 17),
        "id_number": first17 + id_check_digit(first17),
        "phone": "13812345678",
        "status": "full",
        "branch_code": "B-1",
        "joined_on": date(2008, 5, 17),
        "dues_paid_through": "2026-11",
    }
    values.update(changes)
    return NewMember(**values)  # type: ignore[arg-type]


def test_member_rules_name_their_field():
    today = date(2026, 11, 22)
    check_new_member(member(), today)  # joined exactly on the 18th birthday
    cases = {
        "joined_on": member(joined_on=date(2008, 5, 16)),
        "dues_paid_through": member(dues_paid_through="2026-12"),
        "phone": member(phone="23812345678"),
        "birth_date": member(birth_date=date(1990, 5, 18)),
        "id_number": member(id_number="110105199005171230"),
    }
    for field, candidate in cases.items():
        with pytest.raises(InvalidInput) as raised:
            check_new_member(candidate, today)
        assert raised.value.field == field


def test_member_problems_lists_every_broken_rule_and_skips_missing_inputs():
    today = date(2026, 11, 22)
    broken = vars(member(phone="123", joined_on=date(2008, 5, 16), dues_paid_through="2027-01"))
    assert {field for field, _ in member_problems(broken, today)} == {
        "phone",
        "joined_on",
        "dues_paid_through",
    }
    # A row whose dates failed its schema is still checked on the rest.
    partial = {"id_number": "110105199005171230", "phone": "13812345678"}
    assert [field for field, _ in member_problems(partial, today)] == ["id_number"]
    assert member_problems(vars(member()), today) == []


def test_an_id_number_born_after_today_is_invalid_today_being_given():
    first17 = "11010520260701123"
    born_1_july = first17 + id_check_digit(first17)
    assert id_number_problem(born_1_july, today=date(2026, 7, 1)) is None
    assert id_number_problem(born_1_july, today=date(2026, 6, 30)) == "contains no valid birth date"


# --- the name search's grams -----------------------------------------------------------------


def test_a_name_has_its_characters_and_pairs_as_grams():
    assert name_grams("王小明") == {"王", "小", "明", "王小", "小明"}
    assert name_grams("王王") == {"王", "王王"}
    assert name_grams("Li Na") == {"l", "i", " ", "n", "a", "li", "i ", " n", "na"}


def test_a_search_asks_for_the_character_or_at_most_three_distinct_pairs():
    assert search_grams("王") == ["王"]
    assert search_grams("M") == ["m"]
    assert search_grams("小明") == ["小明"]
    assert search_grams("王小明") == ["王小", "小明"]
    assert search_grams("哈哈哈") == ["哈哈"]
    # Six pairs: the first, one between and the last.
    assert search_grams("阿依古丽买买提") == ["阿依", "古丽", "买提"]


names = st.text(alphabet=st.sampled_from("王李小明伟芳 ·aAbB买提"), min_size=1, max_size=12)


@given(names, st.data())
def test_a_name_has_every_gram_of_any_text_it_contains(name, data):
    start = data.draw(st.integers(0, len(name) - 1))
    end = data.draw(st.integers(start + 1, len(name)))
    # The database's LIKE may ignore case (SQLite): the grams never decide on case.
    text = data.draw(st.sampled_from([name[start:end], name[start:end].upper(), name[start:end].lower()]))
    assert set(search_grams(text)) <= name_grams(name)
