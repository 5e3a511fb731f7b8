"""ISBT 128 Donation Identification Numbers: the chain-of-identity number on every label.

A DIN is 13 characters, ``FFFFFYYNNNNNN``: the facility identification number (5), the
year (2) and a sequence (6). Labels carry it as the data structure ``=`` + DIN + two flag
characters; the eye-readable form adds the ISO/IEC 7064 MOD 37-2 check character, printed
in a box. No maintained ISBT 128 parser exists, so this one is small and strict.

Flag characters (ST-001, data structure 001) are two digits, in three types:
00 (no flag) and 01-59 are defined by ICCBBA (type 1, e.g. the container of a set);
60-96 carry the DIN's MOD 37-2 check value 0-36 as 60 + value (type 2), so a scanner can
check the number without the eye-readable check character; 97-99 are for local use
(type 3). A type 2 flag that does not match the DIN is a misread and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.iso7064 import mod_37_2

from mes.errors import DomainError

DATA_IDENTIFIER = "="
DEFAULT_FLAGS = "00"
_DIN = re.compile(r"^[A-Z0-9]{5}\d{2}\d{6}$")
_FLAGS = re.compile(r"^[0-9]{2}$")
CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"  # MOD 37-2 values 0-36
CHECK_FLAGS = range(60, 97)  # type 2: 60 + the check value


class InvalidScan(DomainError):
    """What was scanned or typed is not a readable identifier (a misread, not a mix-up)."""

    code = "invalid_scan"
    status = 422


def check_character(din: str) -> str:
    """The ISO/IEC 7064 MOD 37-2 check character over the 13 DIN characters."""
    return mod_37_2.calc_check_digit(din)


def check_flags(din: str) -> str:
    """The type 2 flag characters that carry the DIN's check value (60 + value)."""
    return f"{CHECK_FLAGS.start + CHECK_ALPHABET.index(check_character(din))}"


def check_flag_characters(din: str, flags: str) -> None:
    """Refuse flags that are not two digits, and type 2 flags whose check value is not the
    DIN's (a misread or mistyped number)."""
    if not _FLAGS.match(flags):
        raise InvalidScan(
            f"“{flags}” are not ISBT 128 flag characters: the flags after the DIN are two "
            "digits (00-99).", code="invalid_flags", fields={"scan": ["Flags are two digits."]})
    if int(flags) in CHECK_FLAGS and flags != check_flags(din):
        raise InvalidScan(
            f"The flag characters “{flags}” carry a check value that does not match DIN {din} "
            f"(expected “{check_flags(din)}”): the number was misread or mistyped. Scan the "
            "label again.", code="wrong_check_character",
            fields={"scan": ["Wrong check value in the flags."]})


def compose(facility: str, year: int, sequence: int) -> str:
    if not re.fullmatch(r"[A-Z0-9]{5}", facility or ""):
        raise DomainError(f"“{facility}” is not an ISBT 128 facility identification number "
                          "(five capitals or digits).", code="invalid_facility")
    if not 1 <= sequence <= 999_999:
        raise DomainError("The DIN sequence must be between 000001 and 999999.",
                          code="din_sequence_out_of_range")
    return f"{facility}{year % 100:02d}{sequence:06d}"


@dataclass(frozen=True)
class DIN:
    din: str
    flags: str = DEFAULT_FLAGS

    @property
    def check(self) -> str:
        return check_character(self.din)

    @property
    def barcode_data(self) -> str:
        """What the Code 128 symbol encodes: the data identifier, the DIN and the flags."""
        return f"{DATA_IDENTIFIER}{self.din}{self.flags}"

    @property
    def eye_readable(self) -> tuple[str, str, str]:
        """(grouped DIN, flags, check character): the check character is printed boxed."""
        d = self.din
        return f"{d[:5]} {d[5:7]} {d[7:]}", self.flags, self.check

    def __post_init__(self) -> None:
        check_flag_characters(self.din, self.flags)

    def __str__(self) -> str:
        grouped, flags, check = self.eye_readable
        return f"{grouped} {flags} [{check}]"


def parse(scan: str) -> DIN:
    """Read what a scanner (``=`` + DIN + flags) or a person (DIN, flags, check character,
    with or without spaces) entered. A wrong check character is refused."""
    text = re.sub(r"\s+", "", scan or "").upper()
    if text.startswith(DATA_IDENTIFIER):
        text = text[1:]
    if not text:
        raise InvalidScan("Nothing was scanned. Scan the label's DIN barcode.",
                          fields={"scan": ["Empty."]})
    din, rest = text[:13], text[13:]
    if not _DIN.match(din):
        raise InvalidScan(
            f"“{scan.strip()}” is not an ISBT 128 DIN: expected 5 facility characters, "
            "2 year digits and 6 sequence digits.", fields={"scan": ["Not a DIN."]})
    flags, given_check = DEFAULT_FLAGS, None
    if len(rest) == 1:
        given_check = rest
    elif len(rest) in (2, 3):
        flags, given_check = rest[:2], (rest[2] if len(rest) == 3 else None)
    elif rest:
        raise InvalidScan(f"“{scan.strip()}” has {len(rest)} characters too many after the DIN.",
                          fields={"scan": ["Too long."]})
    result = DIN(din=din, flags=flags)
    if given_check is not None and given_check != result.check:
        raise InvalidScan(
            f"The check character “{given_check}” does not match DIN {din} (expected "
            f"“{result.check}”): the number was misread or mistyped. Scan the label again.",
            code="wrong_check_character", fields={"scan": ["Wrong check character."]})
    return result
