"""ISBT 128 DINs: check characters, eye-readable form, parsing what scanners send."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_2

from custody import din as isbt

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
DINS = st.builds(
    lambda f, y, n: f"{f}{y:02d}{n:06d}",
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=5, max_size=5),
    st.integers(0, 99), st.integers(1, 999_999),
)


@pytest.mark.req("COI-DIN-001:check-character")
@pytest.mark.parametrize(("din", "check"), [
    ("G123489654321", "Y"),  # the ISBT 128 standard's own example
    ("G123426000001", mod_37_2.calc_check_digit("G123426000001")),
])
def test_check_character_of_known_dins(din, check):
    assert isbt.check_character(din) == check
    assert mod_37_2.is_valid(din + check)


@pytest.mark.req("COI-DIN-001:substitution")
@given(din=DINS, position=st.integers(0, 13), replacement=st.sampled_from(ALPHABET))
def test_every_single_character_substitution_is_detected(din, position, replacement):
    number = din + isbt.check_character(din)
    if number[position] == replacement:
        return
    corrupted = number[:position] + replacement + number[position + 1:]
    assert not mod_37_2.is_valid(corrupted)
    # and our parser, which every label scan goes through, refuses it too
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.parse(corrupted)
    assert refused.value.code in ("wrong_check_character", "invalid_scan")


@pytest.mark.req("COI-DIN-001:format", "COI-DIN-001:eye-readable")
def test_composition_and_eye_readable_form():
    number = isbt.DIN(isbt.compose("G1234", 2026, 17))
    assert number.din == "G123426000017"
    assert number.barcode_data == "=G12342600001700"
    assert number.eye_readable == ("G1234 26 000017", "00", isbt.check_character(number.din))


@pytest.mark.req("COI-DIN-002:accepts")
@pytest.mark.parametrize("scan", [
    "=G12348965432100",          # scanner: data identifier, DIN, flags
    "=G12348965432100Y",         # with the check character
    "G1234 89 654321 00 Y",      # typed from the eye-readable text
    "g123489654321y",            # lower case, no flags, with check
    "G123489654321",             # the bare DIN
    " =G1234 89654321 00 \n",    # stray spaces and the scanner's Enter
])
def test_parse_accepts_what_scanners_and_people_send(scan):
    assert isbt.parse(scan).din == "G123489654321"


@pytest.mark.req("COI-DIN-002:accepts")
def test_parse_keeps_the_flags():
    assert isbt.parse("=G12348965432107").flags == "07"


@pytest.mark.req("COI-DIN-002:wrong-check", "COI-DIN-002:unreadable")
@pytest.mark.parametrize(("scan", "code", "words"), [
    ("G1234 89 654321 00 K", "wrong_check_character", "does not match"),
    ("G123489654321K", "wrong_check_character", "expected “Y”"),
    ("=12345", "invalid_scan", "not an ISBT 128 DIN"),
    ("", "invalid_scan", "Nothing was scanned"),
    ("=G12348965432100Y99", "invalid_scan", "too many"),
    ("=G123489654321!!", "invalid_flags", "flag characters"),
])
def test_parse_refuses_with_a_clear_message(scan, code, words):
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.parse(scan)
    assert refused.value.code == code
    assert words in refused.value.message


@pytest.mark.req("COI-DIN-004:numeric")
@pytest.mark.parametrize("flags", ["0A", "A0", "AB", "!!", "*1", "0A Y"])
def test_flags_that_are_not_two_digits_are_refused(flags):
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.parse(f"=G123489654321{flags}")
    assert refused.value.code == "invalid_flags"
    assert "two digits" in refused.value.message and refused.value.fields == {
        "scan": ["Flags are two digits."]}


@pytest.mark.req("COI-DIN-004:numeric")
@pytest.mark.parametrize("flags", ["00", "01", "07", "59", "97", "99"])
def test_numeric_flags_outside_the_check_range_are_kept(flags):
    assert isbt.parse(f"=G123489654321{flags}").flags == flags
    assert isbt.parse(f"G1234 89 654321 {flags} Y").flags == flags


@pytest.mark.req("COI-DIN-004:check-flags")
def test_type_2_flags_carry_the_check_value_as_60_plus_value():
    # the standard's example G123489654321 has check character Y, MOD 37-2 value 34
    assert isbt.check_flags("G123489654321") == "94"
    assert isbt.parse("=G12348965432194").flags == "94"
    assert isbt.parse("=G12348965432194Y").din == "G123489654321"


@pytest.mark.req("COI-DIN-004:check-flags")
@given(din=DINS, flags=st.integers(60, 96))
def test_type_2_flags_that_do_not_match_the_din_are_refused(din, flags):
    expected = isbt.check_flags(din)
    assert 60 <= int(expected) <= 96
    if f"{flags}" == expected:
        assert isbt.parse(f"={din}{flags}").flags == expected
        return
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.parse(f"={din}{flags}")
    assert refused.value.code == "wrong_check_character"
    assert f"expected “{expected}”" in refused.value.message


@pytest.mark.req("COI-DIN-004:numeric", "COI-DIN-004:check-flags")
def test_a_din_cannot_be_built_with_bad_flags():
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.DIN("G123489654321", "AB")
    assert refused.value.code == "invalid_flags"
    with pytest.raises(isbt.InvalidScan) as refused:
        isbt.DIN("G123489654321", "95")
    assert refused.value.code == "wrong_check_character"
    assert isbt.DIN("G123489654321", "94").barcode_data == "=G12348965432194"
