"""A master record version as a JSON document, validated by the published JSON Schema
(``batchrecords/schema/master-record.schema.json``, also served at
``/api/v1/batchrecords/schema/``). Export writes every property; import accepts the optional
ones missing. ``check_document`` refuses a malformed document with the JSON path of each
error, first against the schema, then the rules a schema cannot say (unique codes and keys,
ordered limits, formulas over known fields)."""

from __future__ import annotations

import functools
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import jsonschema

from batchrecords.formulas import FormulaRefused, check_formula
from mes.errors import DomainError

SCHEMA_PATH = Path(__file__).parent / "schema" / "master-record.schema.json"
FORMAT = "cgt-mes/master-record@1"

STEP_DEFAULTS = {
    "instructions": "",
    "critical": False,
    "second_person_verification": False,
    "required_qualifications": [],
    "patient_label_scan": False,
    "equipment_type_code": "",
    "na_allowed": False,
    "expected_minutes": None,
    "window_min_minutes": None,
    "window_max_minutes": None,
    "parallel_group": "",
}
FIELD_DEFAULTS = {
    "unit": "",
    "target": None,
    "alert_low": None,
    "alert_high": None,
    "action_low": None,
    "action_high": None,
    "options": [],
    "formula": "",
    "required": True,
}
LIMITS = ("action_low", "alert_low", "target", "alert_high", "action_high")


class InvalidMasterRecord(DomainError):
    code = "invalid_master_record"
    status = 400


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def quantized(value) -> Decimal:
    """A number as the database keeps it (four decimal places)."""
    return Decimal(str(value)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _number(value: Decimal | None):
    if value is None:
        return None
    value = Decimal(value).normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def export_version(version) -> dict:
    """The version's procedure as a document (no identity: the same content exports alike)."""
    operations = version.operations.prefetch_related("steps__materials", "steps__fields")
    return {
        "format": FORMAT,
        "product": version.master.product.code,
        "title": version.title,
        "change_summary": version.change_summary,
        "operations": [
            {
                "code": operation.code,
                "name": operation.name,
                "steps": [_export_step(step) for step in operation.steps.all()],
            }
            for operation in operations
        ],
    }


def _export_step(step) -> dict:
    data = {"code": step.code, "title": step.title}
    data.update({name: getattr(step, name) for name in STEP_DEFAULTS})
    data["materials"] = [
        {
            "material_code": m.material_code,
            "quantity": _number(m.quantity),
            "unit": m.unit,
            "tolerance": _number(m.tolerance),
        }
        for m in step.materials.all()
    ]
    data["fields"] = []
    for field in step.fields.all():
        entry = {"key": field.key, "label": field.label, "kind": field.kind}
        for name in FIELD_DEFAULTS:
            value = getattr(field, name)
            entry[name] = _number(value) if name in LIMITS else value
        data["fields"].append(entry)
    return data


def path_of(parts) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_path = path_of
# A bound broken (too many items, too long a text) ends the validation there: the schema lists
# a bound before the items, so a huge document is refused before its contents are walked.
_BOUNDS = {
    "maxItems": "At most {} items.",
    "maxLength": "At most {} characters.",
    "maxProperties": "At most {} properties.",
}
_MAX_ERRORS = 50
_MAX_MESSAGE = 300  # jsonschema quotes the value in its messages; a huge value stays out


def _message(error) -> str:
    if error.validator in _BOUNDS:
        return _BOUNDS[error.validator].format(error.validator_value)
    message = error.message
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def check_document(document) -> dict:
    """Refuse a malformed document, naming the JSON path of every error; return it with the
    optional properties filled in."""
    validator = jsonschema.Draft202012Validator(schema())
    found = []
    for error in validator.iter_errors(document):
        found.append(error)
        if error.validator in _BOUNDS or len(found) >= _MAX_ERRORS:
            break
    errors: dict[str, list[str]] = {}
    for error in sorted(found, key=lambda e: [(isinstance(p, str), p) for p in e.absolute_path]):
        errors.setdefault(_path(error.absolute_path), []).append(_message(error))
    if errors:
        raise InvalidMasterRecord(
            f"The master record document is not valid ({len(errors)} "
            f"place{'s' if len(errors) != 1 else ''}).",
            fields=errors,
        )
    document = with_defaults(document)
    errors = _rule_errors(document)
    if errors:
        raise InvalidMasterRecord(
            f"The master record document breaks {len(errors)} rule"
            f"{'s' if len(errors) != 1 else ''}.",
            fields=errors,
        )
    return document


MAX_DEPTH = 10  # $.operations[].steps[].fields[].options[] is 9 levels with its strings


class _Refused(ValueError):
    pass


def _one_key_once(pairs) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(
                f"The key “{key[:50]}” appears twice in one object: a document says each "
                "thing once (a reader would keep either value)."
            )
        seen[key] = value
    return seen


def _no_constant(name: str):
    raise _Refused(f"{name} is not a number a master record may hold.")


def parse_json(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """Read a JSON text as an import does: a key said twice in one object, NaN or Infinity, a
    NUL character and nesting deeper than any document are refused (``$`` names the whole
    text), never left to the recursion limit or the database."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        if "\x00" in text:
            raise _Refused("A NUL character is not allowed in a master record document.")
        data = json.loads(text, object_pairs_hook=_one_key_once, parse_constant=_no_constant)
    except RecursionError:
        problem = f"The JSON is nested more than {max_depth} levels deep."
    except UnicodeDecodeError:
        problem = "The file is not UTF-8 text."
    except _Refused as error:
        problem = str(error)
    except ValueError as error:
        problem = f"Not valid JSON: {str(error)[:200]}."
    else:
        problem = _structure_problem(data, max_depth)
        if problem is None:
            return data
    raise InvalidMasterRecord(problem, fields={"$": [problem]})


def _structure_problem(data, max_depth: int) -> str | None:
    stack = [(data, 1, "$")]
    while stack:  # no recursion: a deep text must not reach the recursion limit here either
        value, depth, path = stack.pop()
        if depth > max_depth:
            return f"The JSON is nested more than {max_depth} levels deep (at {path})."
        if isinstance(value, str) and "\x00" in value:
            return f"A NUL character is not allowed (at {path})."
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return f"A NUL character is not allowed in a key (in {path})."
                stack.append((item, depth + 1, f"{path}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))
    return None


def with_defaults(document: dict) -> dict:
    filled = {"change_summary": "", **document, "operations": []}
    for operation in document["operations"]:
        steps = []
        for step in operation["steps"]:
            materials = [{"tolerance": 0, **m} for m in step.get("materials", [])]
            fields = [{**FIELD_DEFAULTS, **f} for f in step.get("fields", [])]
            steps.append({**STEP_DEFAULTS, **step, "materials": materials, "fields": fields})
        filled["operations"].append({**operation, "steps": steps})
    return filled


def _rule_errors(document: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(parts, message):
        errors.setdefault(_path(parts), []).append(message)

    operation_codes: set[str] = set()
    keys_so_far: dict[str, str] = {}  # key -> kind of every field recorded so far
    for o, operation in enumerate(document["operations"]):
        where = ["operations", o]
        if operation["code"] in operation_codes:
            add([*where, "code"], f"Operation code {operation['code']} is used twice.")
        operation_codes.add(operation["code"])
        step_codes: set[str] = set()
        for s, step in enumerate(operation["steps"]):
            at = [*where, "steps", s]
            if step["code"] in step_codes:
                add(
                    [*at, "code"], f"Step code {step['code']} is used twice in {operation['code']}."
                )
            step_codes.add(step["code"])
            low, high = step["window_min_minutes"], step["window_max_minutes"]
            if low is not None and high is not None and low > high:
                add([*at, "window_max_minutes"], "The window closes before it opens.")
            for m, material in enumerate(step["materials"]):
                if quantized(material["quantity"]) <= 0:
                    add([*at, "materials", m, "quantity"], "Below 0.0001: too small to record.")
            material_codes = [m["material_code"] for m in step["materials"]]
            for m, code in enumerate(material_codes):
                if code in material_codes[:m]:
                    add([*at, "materials", m, "material_code"], f"{code} is listed twice.")
            for f, field in enumerate(step["fields"]):
                for message in field_errors(field, keys_so_far):
                    add([*at, "fields", f, message[0]], message[1])
                keys_so_far[field["key"]] = field["kind"]
    return errors


NUMERIC_KINDS = ("number", "calculated")


def field_errors(field: dict, earlier_keys: dict[str, str]) -> list[tuple[str, str]]:
    """The rules of one data field (``earlier_keys``: the key and kind of each field recorded
    before it); a formula may read only numbers recorded before it."""
    found = []
    if field["key"] in earlier_keys:
        found.append(("key", f"The key {field['key']} is already used in this version."))
    kind = field["kind"]
    limits = [(name, field[name]) for name in LIMITS if field[name] is not None]
    if kind == "number":
        values = [Decimal(str(v)) for _, v in limits]
        if values != sorted(values):
            found.append(
                (
                    "target",
                    "Limits must be ordered: action low ≤ alert low ≤ target "
                    "≤ alert high ≤ action high.",
                )
            )
    elif limits:
        found.append((limits[0][0], "Only a number field has a target and limits."))
    if kind == "choice" and len(field["options"]) < 2:
        found.append(("options", "A choice needs at least two options."))
    if kind != "choice" and field["options"]:
        found.append(("options", "Only a choice field has options."))
    if kind == "calculated":
        try:
            names = check_formula(field["formula"], set(earlier_keys))
        except FormulaRefused as error:
            found.append(("formula", error.message))
        else:
            not_numbers = sorted(n for n in names if earlier_keys[n] not in NUMERIC_KINDS)
            if not_numbers:
                found.append(("formula", f"The formula “{field['formula']}” reads fields that "
                                         f"are not numbers: {', '.join(not_numbers)}."))
    elif field["formula"]:
        found.append(("formula", "Only a calculated field has a formula."))
    return found
