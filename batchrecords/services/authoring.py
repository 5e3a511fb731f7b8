"""Editing a draft: its header, operations, steps, materials and data fields. Every edit is
refused on a version that is not a draft (``version_not_draft``), and the whole version is
checked against the same rules as an import before the edit is kept."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from batchrecords.exchange import (
    FIELD_DEFAULTS,
    STEP_DEFAULTS,
    check_document,
    export_version,
    field_errors,
)
from batchrecords.formulas import FormulaRefused
from batchrecords.models import DataField, MasterRecordVersion, Operation, Step, StepMaterial
from batchrecords.services._common import (
    EDIT,
    require_draft,
    require_permission,
    require_reason,
    require_site,
)
from batchrecords.services.registers import (
    check_material_code,
    check_step_codes,
    require_active_product,
)
from mes import audit
from mes.errors import DomainError
from mes.models import User

_DECIMALS = {
    "quantity",
    "tolerance",
    "target",
    "alert_low",
    "alert_high",
    "action_low",
    "action_high",
}


def _lock_draft(actor: User, version: MasterRecordVersion) -> MasterRecordVersion:
    require_permission(actor, EDIT, "edit master records")
    locked = (
        MasterRecordVersion.objects.select_for_update()
        .select_related("master__site", "master__product")
        .get(pk=version.pk)
    )
    require_site(actor, locked.master.site)
    require_draft(locked)
    require_active_product(locked.master.product)
    return locked


def _still_valid(version: MasterRecordVersion) -> None:
    """The edited draft must still read as a valid document (empty operations aside)."""
    document = export_version(version)
    if document["operations"] and all(op["steps"] for op in document["operations"]):
        check_document(document)


def _next(queryset) -> int:
    return (queryset.aggregate(n=Max("position"))["n"] or 0) + 1


def _clean_values(values: dict, allowed: set[str]) -> dict:
    unknown = set(values) - allowed
    if unknown:
        raise DomainError(
            f"Unknown attributes: {', '.join(sorted(unknown))}.",
            code="invalid",
            fields={name: ["Unknown attribute."] for name in sorted(unknown)},
        )
    return {
        k: (Decimal(str(v)) if k in _DECIMALS and v is not None else v) for k, v in values.items()
    }


def _check_window(step: Step) -> None:
    low, high = step.window_min_minutes, step.window_max_minutes
    if low is not None and high is not None and low > high:
        message = (f"The window closes ({high} min) before it opens ({low} min) after the "
                   "previous step.")
        raise DomainError(message, code="invalid", fields={"window_max_minutes": [message]})


def _save(record, actor: User, reason: str) -> None:
    # The model's own field rules (code patterns, lengths, digits) hold for every edit, so
    # a bad value is a refusal naming its field, never a database error.
    try:
        record.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        fields = error.message_dict
        raise DomainError(
            next(iter(fields.values()))[0], code="invalid", fields=fields
        ) from error
    audit.stamp(record, user=actor, reason=reason)
    record.save()


@transaction.atomic
def change_header(
    *, actor: User, version: MasterRecordVersion, title: str, change_summary: str, reason: str
) -> MasterRecordVersion:
    version = _lock_draft(actor, version)
    version.title, version.change_summary = (title or "").strip(), (change_summary or "").strip()
    if not version.title:
        raise DomainError(
            "A master record version needs a title.",
            code="invalid",
            fields={"title": ["Required."]},
        )
    _save(version, actor, require_reason(reason))
    return version


@transaction.atomic
def add_operation(*, actor: User, version: MasterRecordVersion, code: str, name: str) -> Operation:
    version = _lock_draft(actor, version)
    if version.operations.filter(code=code).exists():
        raise DomainError(
            f"Operation {code} already exists.",
            code="duplicate",
            fields={"code": ["Already exists."]},
        )
    operation = Operation(version=version, position=_next(version.operations), code=code, name=name)
    _save(operation, actor, "Operation added to draft")
    return operation


@transaction.atomic
def add_step(*, actor: User, operation: Operation, code: str, title: str, **attributes) -> Step:
    _lock_draft(actor, operation.version)
    if operation.steps.filter(code=code).exists():
        raise DomainError(
            f"Step {code} already exists in {operation.code}.",
            code="duplicate",
            fields={"code": ["Already exists."]},
        )
    values = _clean_values(attributes, set(STEP_DEFAULTS))
    check_step_codes(values)
    step = Step(
        operation=operation,
        position=_next(operation.steps),
        code=code,
        title=title,
        **{**STEP_DEFAULTS, **values},
    )
    _check_window(step)
    _save(step, actor, "Step added to draft")
    _still_valid(operation.version)
    return step


@transaction.atomic
def change_step(*, actor: User, step: Step, reason: str, **changes) -> Step:
    """Change a draft step's attributes (title, instructions, flags, window...)."""
    _lock_draft(actor, step.operation.version)
    reason = require_reason(reason)
    step = Step.objects.select_for_update().get(pk=step.pk)
    values = _clean_values(changes, {"title", *STEP_DEFAULTS})
    check_step_codes(values)
    for name, value in values.items():
        setattr(step, name, value)
    _check_window(step)
    _save(step, actor, reason)
    _still_valid(step.operation.version)
    return step


@transaction.atomic
def add_material(
    *, actor: User, step: Step, material_code: str, quantity, unit: str, tolerance=0
) -> StepMaterial:
    _lock_draft(actor, step.operation.version)
    check_material_code(material_code)
    row = StepMaterial(
        step=step,
        position=_next(step.materials),
        material_code=material_code,
        quantity=Decimal(str(quantity)),
        unit=unit,
        tolerance=Decimal(str(tolerance)),
    )
    _save(row, actor, "Material added to draft")
    _still_valid(step.operation.version)
    return row


def _keys_before(step: Step, exclude: int | None = None) -> dict[str, str]:
    """Key and kind of the fields recorded before the end of ``step`` (a formula reads only
    the numbers among them)."""
    operation = step.operation
    fields = DataField.objects.filter(
        step__operation__version_id=operation.version_id
    ).select_related("step__operation")
    return {
        f.key: f.kind
        for f in fields
        if f.pk != exclude
        and ((f.step.operation.position, f.step.position) <= (operation.position, step.position))
    }


def _check_field(data: dict, earlier: dict[str, str]) -> None:
    problems = field_errors({**FIELD_DEFAULTS, **data}, earlier)
    for name, message in problems:
        if name == "formula" and data.get("kind") == "calculated":
            raise FormulaRefused(message, fields={"formula": [message]})
    if problems:
        fields: dict[str, list[str]] = {}
        for name, message in problems:
            fields.setdefault(name, []).append(message)
        raise DomainError(problems[0][1], code="invalid_field", fields=fields)


@transaction.atomic
def add_data_field(
    *, actor: User, step: Step, key: str, label: str, kind: str, **attributes
) -> DataField:
    """Add a field; a calculated field's formula may name only fields recorded before it."""
    _lock_draft(actor, step.operation.version)
    values = _clean_values(attributes, set(FIELD_DEFAULTS))
    data = {**FIELD_DEFAULTS, **values, "key": key, "label": label, "kind": kind}
    _check_field(data, _keys_before(step))
    field = DataField(step=step, position=_next(step.fields), **data)
    _save(field, actor, "Data field added to draft")
    _still_valid(step.operation.version)
    return field


@transaction.atomic
def change_data_field(*, actor: User, field: DataField, reason: str, **changes) -> DataField:
    _lock_draft(actor, field.step.operation.version)
    reason = require_reason(reason)
    field = DataField.objects.select_for_update().get(pk=field.pk)
    for name, value in _clean_values(changes, {"label", "kind", *FIELD_DEFAULTS}).items():
        setattr(field, name, value)
    data = {name: getattr(field, name) for name in ("key", "label", "kind", *FIELD_DEFAULTS)}
    earlier = _keys_before(field.step, exclude=field.pk)
    earlier.pop(field.key, None)
    _check_field(data, earlier)
    _save(field, actor, reason)
    _still_valid(field.step.operation.version)
    return field
