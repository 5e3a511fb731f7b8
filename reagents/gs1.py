"""Reading a reagent label scan (GS1 DataMatrix or GS1-128) with biip.

Keyboard-wedge scanners send the label in several forms: the human-readable text with
parentheses, the raw element string with GS (ASCII 29) after variable-length fields, a
substitute character where the scanner cannot type GS (configured in
``REAGENTS_GS1_SUBSTITUTE_SEPARATORS``), and with an AIM symbology prefix such as ``]d2``
(DataMatrix) or ``]C1`` (GS1-128). Whatever fails gets a message a receiver can act on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from biip import ParseConfig, ParseError
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.symbology import SymbologyIdentifier
from django.conf import settings

from mes.errors import DomainError

GS = "\x1d"


class LabelUnreadable(DomainError):
    code = "label_unreadable"
    status = 400

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("fields", {"scan": [message]})
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class LabelData:
    gtin: str
    lot: str
    expiry_date: dt.date | None
    serial_number: str
    symbology: str

    @property
    def hri(self) -> str:
        parts = [f"(01){self.gtin}"]
        if self.expiry_date:
            parts.append(f"(17){self.expiry_date:%y%m%d}")
        parts.append(f"(10){self.lot}")
        if self.serial_number:
            parts.append(f"(21){self.serial_number}")
        return "".join(parts)


def separators() -> tuple[str, ...]:
    extra = getattr(settings, "REAGENTS_GS1_SUBSTITUTE_SEPARATORS", "")
    return (GS, *[c for c in extra if c != GS])


def _explain(error: str, text: str) -> str:
    if error.startswith("Failed to get GS1 Application Identifier from") and (
            f"from {text!r}" in error):
        return f"The scan is not a readable GS1 label: “{text[:40]}” starts with no GS1 " \
               "application identifier."
    if "(17)" in error or "date" in error.lower():
        return f"The expiry date (17) on the label is not a valid YYMMDD date. ({error})"
    if "Application Identifier" in error:
        return (f"The label contains an unknown GS1 application identifier, or the scanner "
                f"dropped a separator. ({error})")
    return f"The scan is not a readable GS1 label. ({error})"


def parse_label(scan: str) -> LabelData:
    """The GTIN (01), lot (10), expiry (17) and serial (21) of a scanned label."""
    text = (scan or "").strip().strip("\r\n")
    if not text:
        raise LabelUnreadable("Scan the label: the scan is empty.")
    symbology = ""
    if text.startswith("]"):
        try:
            identifier = SymbologyIdentifier.extract(text)
        except (ParseError, IndexError) as exc:  # IndexError: a lone "]" (biip 3)
            raise LabelUnreadable(f"The scan starts with an unknown symbology prefix "
                                  f"“{text[:3]}”.") from exc
        if identifier.gs1_symbology is None:
            raise LabelUnreadable(
                f"The barcode ({identifier.value}) is not a GS1 barcode; scan the GS1 "
                "DataMatrix or GS1-128 label of the reagent.")
        symbology = identifier.value
        text = text[len(identifier):]
    config = ParseConfig(separator_chars=separators())
    text = text.lstrip("".join(separators()))  # some scanners send FNC1 in first position
    try:
        if text.startswith("("):
            message = GS1Message.parse_hri(text, config=config)
        else:
            message = GS1Message.parse(text, config=config)
    except ParseError as exc:
        raise LabelUnreadable(_explain(str(exc), text)) from exc

    elements = message.element_strings
    gtin_element = elements.get(ai="01")
    if gtin_element is None:
        raise LabelUnreadable("The label has no GTIN (01); scan the reagent's GS1 label.")
    if gtin_element.gtin is None:
        raise LabelUnreadable(
            f"The GTIN (01) {gtin_element.value} is not valid: {gtin_element.gtin_error}")
    lot_element = elements.get(ai="10")
    if lot_element is None or not lot_element.value.strip():
        raise LabelUnreadable("The label has no lot number (10); a lot cannot be received "
                              "without it.")
    expiry = elements.get(ai="17")
    serial = elements.get(ai="21")
    return LabelData(
        gtin=gtin_element.gtin.as_gtin_14(),
        lot=lot_element.value,
        expiry_date=expiry.date if expiry is not None else None,
        serial_number=serial.value if serial is not None else "",
        symbology=symbology,
    )


def normalise_gtin(value: str) -> str:
    """A GTIN-8/12/13/14 as 14 digits, or a DomainError naming what is wrong."""
    try:
        return Gtin.parse((value or "").strip()).as_gtin_14()
    except ParseError as exc:
        raise DomainError(str(exc), code="invalid_gtin", fields={"gtins": [str(exc)]}) from exc

