"""Values entered at a step: each parsed by its field's kind, calculated fields computed by
their formula (never typed in), and numbers judged against their alert and action limits.

Nothing here writes: ``parse_values`` answers what would be stored, or refuses with an error
per field key so the screen can show each next to its field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext

from django.utils import timezone

from batchrecords import formulas
from batchrecords.models import Batch, DataField, Flag, StepValue
from batchrecords.services.runs import StepRefused

TEXT_LIMIT = 500
# StepValue.number holds 30 digits, 12 of them after the point.
MAX_DECIMALS = 12
MAX_MAGNITUDE = Decimal(10) ** 18
# Terminals and servers disagree by seconds; a moment "in the future" beyond this is a typo.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
YES_NO = ("yes", "no")
# A number as an operator types it: ASCII digits, an optional sign, one decimal point.
# Python's Decimal also reads "1_5" (15), "1e2" and other scripts' digits, none of which a
# reading is written as: "1_5" is a slip for 1.5, never fifteen.
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class InvalidValue(ValueError):
    """One field's value cannot be stored (the message says why)."""


@dataclass(frozen=True)
class ParsedValue:
    field: DataField
    value: str
    number: Decimal | None = None
    flag: str = Flag.NONE

    @property
    def limit_crossed(self) -> str:
        return limit_text(self.field, self.number) if self.flag else ""


def plain_decimal(raw) -> Decimal | None:
    """``raw`` as a decimal if it is written as plain digits (see PLAIN_NUMBER), else None.
    A negative zero is zero."""
    if isinstance(raw, Decimal):
        number = raw
    else:
        text = ("" if raw is None else str(raw)).strip()
        if not PLAIN_NUMBER.fullmatch(text):
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
    if not number.is_finite():
        return None
    return number.copy_abs() if number.is_zero() else number


def _number(raw: str) -> Decimal:
    text = raw.strip()
    number = plain_decimal(text)
    if number is None:
        raise InvalidValue(f"“{text[:40]}” is not a number: type digits, with a dot for "
                           "decimals.")
    if abs(number) >= MAX_MAGNITUDE:
        raise InvalidValue("The number is too large to be a reading.")
    if number.as_tuple().exponent < -MAX_DECIMALS:
        raise InvalidValue(f"At most {MAX_DECIMALS} decimals.")
    return number


def _datetime(raw: str, batch: Batch, now: dt.datetime) -> str:
    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidValue("Enter a date and time as YYYY-MM-DD HH:MM.") from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=batch.site.zone)
    if moment > now + CLOCK_TOLERANCE:
        raise InvalidValue("The moment is in the future; record what happened.")
    # Times are typed to the minute: the minute the batch was opened counts.
    if moment < batch.opened_at.replace(second=0, microsecond=0):
        raise InvalidValue("The moment is before the batch was opened.")
    return timezone.localtime(moment, batch.site.zone).isoformat(timespec="minutes")


def parse_one(field: DataField, raw, *, batch: Batch, now: dt.datetime) -> ParsedValue:
    """The value as stored, or InvalidValue. ``raw`` is what was typed (not empty)."""
    raw = "" if raw is None else str(raw)
    if "\x00" in raw:
        raise InvalidValue("The value contains a NUL character.")
    kind = field.kind
    if kind == DataField.Kind.NUMBER:
        number = _number(raw)
        return ParsedValue(field, format(number, "f"), number, flag_for(field, number))
    if kind == DataField.Kind.CHOICE:
        text = raw.strip()
        if text not in field.options:
            raise InvalidValue(f"Choose one of: {', '.join(map(str, field.options))}.")
        return ParsedValue(field, text)
    if kind == DataField.Kind.YES_NO:
        text = raw.strip().lower()
        if text not in YES_NO:
            raise InvalidValue("Answer yes or no.")
        return ParsedValue(field, text)
    if kind == DataField.Kind.DATETIME:
        return ParsedValue(field, _datetime(raw, batch, now))
    if kind == DataField.Kind.TEXT:
        text = raw.strip()
        if len(text) > TEXT_LIMIT:
            raise InvalidValue(f"At most {TEXT_LIMIT} characters.")
        return ParsedValue(field, text)
    raise InvalidValue("This value is calculated, not typed in.")


def flag_for(field: DataField, number: Decimal | None) -> str:
    if number is None:
        return Flag.NONE
    if ((field.action_low is not None and number < field.action_low)
            or (field.action_high is not None and number > field.action_high)):
        return Flag.ACTION
    if ((field.alert_low is not None and number < field.alert_low)
            or (field.alert_high is not None and number > field.alert_high)):
        return Flag.ALERT
    return Flag.NONE


def limit_text(field: DataField, number) -> str:
    low, high = ((field.action_low, field.action_high) if flag_for(field, number) == Flag.ACTION
                 else (field.alert_low, field.alert_high))
    bounds = " to ".join(str(b) if b is not None else "…" for b in (low, high))
    kind = "action" if flag_for(field, number) == Flag.ACTION else "alert"
    return f"{field.label} {number} {field.unit} is outside its {kind} limits ({bounds})."


def current_numbers(batch: Batch) -> dict[str, Decimal]:
    """The batch's current number values by field key (corrected values replaced)."""
    rows = (StepValue.objects.filter(run__batch=batch, number__isnull=False,
                                     corrected_by__isnull=True)
            .order_by("pk").values_list("field__key", "number"))
    return dict(rows)


def calculate(field: DataField, numbers: dict[str, Decimal], *, batch: Batch) -> ParsedValue:
    names = formulas.names_in(field.formula)
    missing = sorted(names - set(numbers))
    if missing:
        raise InvalidValue(f"Cannot be calculated yet: {', '.join(missing)} has no value.")
    try:
        number = formulas.evaluate(field.formula, {n: numbers[n] for n in names})
    except ZeroDivisionError:
        raise InvalidValue("Cannot be calculated: the formula divides by zero.") from None
    except formulas.FormulaRefused as error:
        raise InvalidValue(error.message) from None
    if abs(number) >= MAX_MAGNITUDE:
        raise InvalidValue("The calculated number is too large.")
    with localcontext(prec=40):
        number = number.quantize(Decimal(1).scaleb(-MAX_DECIMALS)).normalize()
    return ParsedValue(field, format(number, "f"), number, flag_for(field, number))


def parse_values(fields: list[DataField], values: dict, *, batch: Batch,
                 now: dt.datetime) -> list[ParsedValue]:
    """Every field of the step: typed values parsed, calculated ones computed from this
    step's numbers and the batch's current ones. Refused with an error per field key."""
    values = {str(k): v for k, v in (values or {}).items()}
    by_key = {f.key: f for f in fields}
    errors: dict[str, list[str]] = {}
    for key in values:
        field = by_key.get(key)
        if field is None:
            errors[key] = ["This step has no such field."]
        elif field.kind == DataField.Kind.CALCULATED and str(values[key] or "").strip():
            errors[key] = ["Calculated by the system, not typed in."]
    parsed: list[ParsedValue] = []
    missing: list[str] = []
    for field in fields:
        if field.kind == DataField.Kind.CALCULATED:
            continue
        raw = values.get(field.key)
        if raw is None or not str(raw).strip():
            if field.required:
                missing.append(field.key)
                errors[field.key] = ["Required."]
            continue
        try:
            parsed.append(parse_one(field, raw, batch=batch, now=now))
        except InvalidValue as error:
            errors[field.key] = [str(error)]
    if not errors:
        numbers = {**current_numbers(batch),
                   **{p.field.key: p.number for p in parsed if p.number is not None}}
        for field in fields:
            if field.kind != DataField.Kind.CALCULATED:
                continue
            try:
                result = calculate(field, numbers, batch=batch)
            except InvalidValue as error:
                errors[field.key] = [str(error)]
                continue
            parsed.append(result)
            numbers[field.key] = result.number
    if missing:
        raise StepRefused(
            "Enter every required value: " + ", ".join(
                by_key[k].label for k in missing) + ". Nothing was saved.",
            code="missing_value", status=400, fields=errors)
    if errors:
        raise StepRefused(
            "Some values cannot be accepted; correct them and sign again. Nothing was saved.",
            code="invalid_value", status=400, fields=errors)
    order = {f.pk: i for i, f in enumerate(fields)}
    return sorted(parsed, key=lambda p: order[p.field.pk])
