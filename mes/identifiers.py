"""One rendering per kind of identifier, date and quantity (UI.md, "Identifiers, dates and
numbers"): the template filters in ``mes_tags`` call these, and views that build rows in
Python call them directly. Pure functions: no queries, no template rendering, so a list page
can call them once per cell.

The kernel imports no app, so a COI is rendered from what the object carries (duck typing:
a patient's ``din``, ``din_flags`` and ``coi``) or from the string itself.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from stdnum.iso7064 import mod_37_2

DIN_DATA_IDENTIFIER = "="
DEFAULT_DIN_FLAGS = "00"
_DIN = re.compile(r"^([A-Z0-9]{5})(\d{2})(\d{6})(\d{2})?$")
UTC = dt.UTC


def _din_parts(value) -> tuple[str, str] | None:
    """(DIN, flags) of a patient-like object or a COI string that is an ISBT 128 DIN."""
    din = getattr(value, "din", None)
    if din is not None:
        if not din:
            return None
        return din, getattr(value, "din_flags", "") or DEFAULT_DIN_FLAGS
    text = re.sub(r"\s+", "", str(value or "")).upper().removeprefix(DIN_DATA_IDENTIFIER)
    match = _DIN.match(text)
    if not match:
        return None
    return "".join(match.groups()[:3]), match.group(4) or DEFAULT_DIN_FLAGS


def _plain_coi(value) -> str:
    return str(getattr(value, "coi", value) or "")


def coi(value) -> SafeString:
    """The COI as people read it: ``G1234 26 000013 00`` with the check character boxed.
    A COI that is not an ISBT 128 DIN (an external scheme) is shown as issued."""
    parts = _din_parts(value)
    if parts is None:
        text = _plain_coi(value)
        return format_html('<span class="coi">{}</span>', text) if text else mark_safe("")
    din, flags = parts
    return format_html(
        '<span class="coi">{} {} {} <small class="coi-flags">{}</small> '
        '<span class="coi-check" title="check character">{}</span></span>',
        din[:5],
        din[5:7],
        din[7:],
        flags,
        mod_37_2.calc_check_digit(din),
    )


def coi_text(value) -> str:
    """The eye-readable COI as plain text (page titles, alt text): ``G1234 26 000013 00 [K]``."""
    parts = _din_parts(value)
    if parts is None:
        return _plain_coi(value)
    din, flags = parts
    return f"{din[:5]} {din[5:7]} {din[7:]} {flags} [{mod_37_2.calc_check_digit(din)}]"


def scan_string(value) -> SafeString:
    """What the label's barcode encodes (``=G12342600001300``): only where someone types or
    checks a scan."""
    parts = _din_parts(value)
    text = DIN_DATA_IDENTIFIER + "".join(parts) if parts else _plain_coi(value)
    return format_html('<code class="scan-string">{}</code>', text) if text else mark_safe("")


def _nowrap(css: str, value) -> SafeString:
    text = "" if value is None else str(value)
    return format_html('<span class="{}">{}</span>', css, text) if text else mark_safe("")


def gtin(value) -> SafeString:
    """One GTIN, never wrapped in the middle."""
    return _nowrap("gtin", value)


def gtin_list(values) -> SafeString:
    """Several GTINs, each whole and separated, never run together."""
    numbers = (str(getattr(v, "gtin", v)) for v in values)
    return format_html_join(", ", '<span class="gtin">{}</span>', ((n,) for n in numbers if n))


def lot_number(value) -> SafeString:
    """A (supplier) lot number, never wrapped in the middle."""
    return _nowrap("lot-number", value)


def batch_number(value) -> SafeString:
    """A batch number, never wrapped in the middle."""
    return _nowrap("batch-number", value)


def _zone(zone) -> dt.tzinfo:
    """A site (its ``zone``), a tzinfo, a zone name, or nothing (UTC)."""
    if zone is None or zone == "":
        return UTC
    if isinstance(zone, dt.tzinfo):
        return zone
    if isinstance(zone, str):
        return zoneinfo.ZoneInfo(zone)
    return getattr(zone, "zone", None) or UTC


def when_text(value, zone=None, *, seconds: bool = False) -> str:
    """``2026-11-30 14:05 CET``: ISO 8601 in the zone given (a site's), with its abbreviation."""
    if value is None or value == "":
        return ""
    if not isinstance(value, dt.datetime):
        return day_text(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(_zone(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def when(value, zone=None, *, seconds: bool = False) -> SafeString:
    """A moment for people: ``when_text`` in a ``<time>`` that does not wrap, carrying the
    exact instant (UTC, to the microsecond) in its ``datetime`` attribute."""
    text = when_text(value, zone, seconds=seconds)
    if not text:
        return mark_safe("")
    if not isinstance(value, dt.datetime):
        return day(value)
    instant = value if value.tzinfo else value.replace(tzinfo=UTC)
    return format_html(
        '<time class="when" datetime="{}">{}</time>',
        instant.astimezone(UTC).isoformat(),
        text,
    )


def day_text(value, zone=None) -> str:
    """``2026-11-30``; a moment is first put in the zone given (a site's)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(_zone(zone)).date()
    return value.isoformat()


def day(value, zone=None) -> SafeString:
    """A calendar date, ISO 8601, in a ``<time>`` that does not wrap."""
    text = day_text(value, zone)
    return (
        format_html('<time class="day" datetime="{}">{}</time>', text, text)
        if text
        else mark_safe("")
    )


def number_text(value) -> str:
    """A decimal without trailing zeros and never in exponent form (10, not 1E+1)."""
    if value is None or value == "":
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def quantity(value, unit="") -> SafeString:
    """A quantity with its unit, kept on one line: ``12.5 mL``."""
    text = number_text(value)
    if not text:
        return mark_safe("")
    unit = str(unit or "").strip()
    if not unit:
        return format_html('<span class="qty">{}</span>', text)
    return format_html('<span class="qty">{} {}</span>', text, unit)
