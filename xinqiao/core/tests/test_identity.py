from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinqiao.lib.identity import (
    IdentifierError,
    generate_resident_id,
    id_check_char,
    mask_id_number,
    mask_mobile,
    mask_name,
    normalise_mobile,
    parse_resident_id,
)

TODAY = dt.date(2026, 11, 23)


def test_known_valid_number():
    # The GB 11643 example number: check character X.
    parsed = parse_resident_id("11010519491231002X", today=TODAY)
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.sex == "F"
    assert id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("11010519491231002", "id_format"),
        ("11010519491231002Y", "id_format"),
        ("110105194912310021", "id_checksum"),
        ("99010519491231002X", "id_region"),
        ("110105194902300028", "id_birth_date"),
        ("110105203001010011", "id_birth_date"),
    ],
)
def test_invalid_numbers(raw, code):
    with pytest.raises(IdentifierError) as info:
        parse_resident_id(raw, today=TODAY)
    assert info.value.code == code


def test_lowercase_x_and_spaces_are_normalised():
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=10_000),
    male=st.booleans(),
)
def test_generated_numbers_round_trip(birth, sequence, male):
    number = generate_resident_id("440305", birth, sequence, male=male)
    parsed = parse_resident_id(number, today=TODAY)
    assert (parsed.birth_date, parsed.sex) == (birth, "M" if male else "F")


@given(st.text(max_size=20))
def test_parse_never_crashes(text):
    codes = set()
    try:
        parse_resident_id(text, today=TODAY)
    except IdentifierError as exc:
        codes.add(exc.code)
    assert codes <= {"id_format", "id_region", "id_birth_date", "id_checksum"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("(138) 0013 8000", "13800138000"),
    ],
)
def test_mobile_normalisation(raw, expected):
    assert normalise_mobile(raw) == expected


@pytest.mark.parametrize("raw", ["1380013800", "12800138000", "138001380001", "abc", "", "+1 4155550100"])
def test_mobile_rejections(raw):
    with pytest.raises(IdentifierError):
        normalise_mobile(raw)


def test_masks_follow_req_acc_005():
    assert mask_mobile("13812348000") == "138****8000"
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧阳*"
    assert mask_name("欧阳") == "欧*"
