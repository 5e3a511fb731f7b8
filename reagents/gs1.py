"""Reading a reagent label scan (GS1 DataMatrix or GS1-128) with biip.

Keyboard-wedge scanners send the label in several forms: the human-readable text with
parentheses, the raw element string with GS (ASCII 29) after variable-length fields, a
substitute character where the scanner cannot type GS (configured in
``REAGENTS_GS1_SUBSTITUTE_SEPARATORS``), and with an AIM symbology prefix such as ``]d2``
(DataMatrix) or ``]C1`` (GS1-128). Whatever fails gets a message a receiver can act on.

A scanner that drops GS makes a variable-length lot (10) or serial (21) run to the end of the
scan, swallowing whatever followed it: ``10LOT42`` then ``21XYZ`` reads as the lot
``LOT4221XYZ``. When a scan carries no separator at all, such a field is checked for a tail
that is itself a valid element of an application identifier a reagent label carries (and that
the label does not already have); each such split is another possible reading of the label,
and the receiver must say which one the printed label shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from biip import ParseConfig, ParseError
from biip.gs1_element_strings import GS1ElementString, GS1ElementStrings
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


class SeparatorMissing(LabelUnreadable):
    """A scan without separators that can be read more than one way."""

    code = "gs1_separator_missing"

    def __init__(self, message: str, *, readings: tuple[str, ...], **kwargs):
        super().__init__(message, **kwargs)
        self.readings = readings


# Application identifiers a reagent label carries, whose element swallowed into the end of a
# lot or serial is worth asking about: GTIN, lot, production date, best before, expiry, serial.
SWALLOWABLE_AIS = ("01", "10", "11", "15", "17", "21")
VARIABLE_FIELDS = frozenset({"10", "21"})  # lot, serial: variable length, no separator after


@dataclass(frozen=True)
class LabelData:
    gtin: str
    lot: str
    expiry_date: dt.date | None
    serial_number: str
    symbology: str
    # A scan without separators whose lot or serial may have swallowed a further element:
    # this reading and its alternatives are guesses until the receiver confirms one.
    ambiguous: bool = False
    alternatives: tuple[LabelData, ...] = ()
    # Set when the receiver chose this reading of an ambiguous scan against the label.
    confirmed: bool = False

    @property
    def readings(self) -> tuple[LabelData, ...]:
        """Every possible reading, the scan as the scanner sent it first."""
        return (self, *self.alternatives)

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
    # A scanner that sends any separator (FNC1 in first position included) sends them all.
    # (Checked before strip(): Python counts GS as whitespace.)
    sends_separators = any(sep in (scan or "") for sep in separators())
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

    try:
        label, unreadable = _label(message.element_strings, symbology), None
    except LabelUnreadable as exc:  # e.g. no lot: it may be inside the serial
        label, unreadable = None, exc
    splits = [] if sends_separators or text.startswith("(") else list(
        _split_readings(message.element_strings, symbology))
    seen = {_identity(label)} if label is not None else set()
    splits = [r for r in splits if not (_identity(r) in seen or seen.add(_identity(r)))]
    if not splits:
        if unreadable is not None:
            raise unreadable
        return label
    first, *rest = ([label] if label is not None else []) + splits
    return replace(first, alternatives=tuple(rest), ambiguous=True)


def read_label(scan: str, reading: str = "") -> LabelData:
    """The label of ``scan``; when the scan can be read more than one way (no separators),
    the reading the receiver confirmed against the printed label (its ``hri``), or a
    refusal listing the readings."""
    label = parse_label(scan)
    reading = (reading or "").strip()
    if not label.ambiguous:
        if reading and reading != label.hri:
            raise LabelUnreadable(f"The confirmed reading {reading} is not what the scan says "
                                  f"({label.hri}); scan the label again.",
                                  code="reading_mismatch")
        return label
    hris = tuple(option.hri for option in label.readings)
    if not reading:
        raise SeparatorMissing(
            "The scanner sent no separators, so the end of the lot (10) or serial (21) may be "
            "another field of the label. Check the printed label and confirm how it reads: "
            + " or ".join(hris) + ".",
            readings=hris, fields={"scan": ["Confirm how the label reads."],
                                   "reading": list(hris)})
    if reading not in hris:
        raise LabelUnreadable(f"The confirmed reading {reading} is not a reading of this scan; "
                              "choose one of: " + " or ".join(hris) + ".",
                              code="reading_mismatch", fields={"reading": list(hris)})
    chosen = label.readings[hris.index(reading)]
    others = tuple(replace(o, alternatives=()) for o in label.readings if o is not chosen)
    return replace(chosen, alternatives=others, ambiguous=True, confirmed=True)


def _split_readings(elements, symbology: str, depth: int = 0):
    """Readings in which the trailing lot or serial is cut where its tail parses as further
    elements: each of an AI in SWALLOWABLE_AIS the label lacks, and valid (dates, check
    digits). Without separators only the last element can have swallowed anything, but a
    split-off element can itself be a lot or serial that swallowed the next one (two dropped
    separators), so the split is tried again on it."""
    last = list(elements)[-1]
    field = last.ai.ai
    if field not in VARIABLE_FIELDS:
        return
    present = {element.ai.ai for element in elements}
    head = [element for element in elements if element is not last]
    for cut in range(1, len(last.value)):
        tail = last.value[cut:]
        try:
            more = GS1Message.parse(tail).element_strings
        except ParseError:
            continue
        ais = [element.ai.ai for element in more]
        if (ais[0] not in SWALLOWABLE_AIS or present.intersection(ais)
                or len(set(ais)) != len(ais)
                or any(e.ai.ai == "01" and e.gtin is None for e in more)):
            continue
        kept = GS1ElementString.extract(f"{field}{last.value[:cut]}")
        combined = GS1ElementStrings([*head, kept, *more])
        try:
            reading = _label(combined, symbology)
        except LabelUnreadable:
            reading = None
        if reading is not None:
            yield reading
        if depth < 3:
            yield from _split_readings(combined, symbology, depth + 1)


def _identity(label: LabelData) -> tuple:
    return (label.gtin, label.lot, label.expiry_date, label.serial_number)


def _label(elements, symbology: str) -> LabelData:
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

