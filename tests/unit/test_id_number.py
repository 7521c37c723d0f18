from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain import id_check_digit, id_number_problem, mask_id_number, mask_phone

# A published sample number (GB 11643-1999 example) with a valid check digit.
VALID = "11010519491231002X"


def test_known_number_is_valid():
    assert id_number_problem(VALID) is None


def test_wrong_check_digit_is_named():
    assert id_number_problem(VALID[:17] + "1") == "check digit does not match"


def test_length_and_characters():
    assert "18 characters" in id_number_problem("1234")
    assert "18 characters" in id_number_problem("A1010519491231002X")


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "120114", "422802", "350391", "630123"]))
    born = draw(st.dates(min_value=date(1930, 1, 1), max_value=date(2007, 12, 31)))
    serial = draw(st.integers(min_value=0, max_value=999))
    first17 = f"{region}{born:%Y%m%d}{serial:03d}"
    return first17 + id_check_digit(first17)


@given(id_numbers())
def test_numbers_with_their_check_digit_are_valid(number: str):
    assert id_number_problem(number) is None


@given(id_numbers(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_is_caught(number: str, position: int, delta: int):
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    # Changing a birth-date digit may also make the date invalid; either way it is refused.
    assert id_number_problem(changed) is not None


def test_masking_keeps_only_the_ends():
    assert mask_id_number(VALID) == "1101**********002X"
    assert mask_phone("13812345678") == "138****5678"
