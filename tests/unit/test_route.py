from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain import classify_route

codes = st.sampled_from(["A", "B", "C"])


def place(province: str, county: str) -> dict[str, str]:
    return {"central": "CN", "province": province, "county": f"{province}-{county}"}


def test_examples():
    assert classify_route(place("HB", "LC"), place("HB", "LC")) == "same_county"
    assert classify_route(place("HB", "LC"), place("HB", "ES")) == "cross_county"
    assert classify_route(place("HB", "LC"), place("ZJ", "YC")) == "cross_province"


@given(codes, codes, codes, codes)
def test_route_is_symmetric_and_consistent(p1, c1, p2, c2):
    a, b = place(p1, c1), place(p2, c2)
    route = classify_route(a, b)
    assert route == classify_route(b, a)
    assert (route == "cross_province") == (p1 != p2)
    assert (route == "same_county") == (p1 == p2 and c1 == c2)


def test_missing_levels_count_as_different_places():
    assert classify_route({"central": "CN"}, {"central": "CN"}) == "cross_province"
    assert classify_route({"province": "HB"}, {"province": "HB"}) == "cross_county"
