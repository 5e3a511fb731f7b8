"""The codes a master record names are the registers' codes: a qualification of training, a
material of reagents, an equipment type of scheduling. A code that no register holds (or holds
inactive) would pass review and then stop every batch at the step that needs it, so it is
refused when the draft is built, edited or imported. The three registers (and products) are
shared by every site of the installation, so a code is checked as it stands, whatever the
master record's site."""

from __future__ import annotations

from custody.models import Product
from mes.errors import DomainError
from reagents.models import Material
from scheduling.models import EquipmentType
from training.models import Qualification


class UnregisteredCode(DomainError):
    code = "unregistered_code"
    status = 400


class ProductInactive(DomainError):
    code = "product_inactive"
    status = 409


def require_active_product(product: Product, *, field: str = "product") -> None:
    if not product.is_active:
        raise ProductInactive(
            f"Product {product.code} is inactive: no master record version is built or changed "
            "for it. Ask QA to reactivate the product first.",
            fields={field: [f"{product.code} is inactive."]},
        )


def _unknown(qualifications: set[str], materials: set[str], equipment: set[str]):
    """The codes among those given that their register does not hold as active."""
    known_q = set(
        Qualification.objects.filter(code__in=qualifications, is_active=True).values_list(
            "code", flat=True
        )
    ) if qualifications else set()
    known_m = set(
        Material.objects.filter(code__in=materials, is_active=True).values_list("code", flat=True)
    ) if materials else set()
    known_e = set(
        EquipmentType.objects.filter(code__in=equipment).values_list("code", flat=True)
    ) if equipment else set()
    return qualifications - known_q, materials - known_m, equipment - known_e


def _qualification_message(code: str) -> str:
    return f"{code} is not an active qualification in the training register."


def _material_message(code: str) -> str:
    return f"{code} is not an active material in the reagents register."


def _equipment_message(code: str) -> str:
    return f"{code} is not an equipment type in the scheduling register."


def document_code_errors(document: dict, path) -> dict[str, list[str]]:
    """Each unregistered code of a checked document, by its JSON path (``path`` turns the
    parts of a path into its text)."""
    steps = [
        (o, s, step)
        for o, operation in enumerate(document["operations"])
        for s, step in enumerate(operation["steps"])
    ]
    bad_q, bad_m, bad_e = _unknown(
        {code for *_, step in steps for code in step["required_qualifications"]},
        {m["material_code"] for *_, step in steps for m in step["materials"]},
        {step["equipment_type_code"] for *_, step in steps if step["equipment_type_code"]},
    )
    errors: dict[str, list[str]] = {}
    for o, s, step in steps:
        at = ["operations", o, "steps", s]
        for q, code in enumerate(step["required_qualifications"]):
            if code in bad_q:
                errors[path([*at, "required_qualifications", q])] = [_qualification_message(code)]
        if step["equipment_type_code"] in bad_e:
            errors[path([*at, "equipment_type_code"])] = [
                _equipment_message(step["equipment_type_code"])
            ]
        for m, material in enumerate(step["materials"]):
            if material["material_code"] in bad_m:
                errors[path([*at, "materials", m, "material_code"])] = [
                    _material_message(material["material_code"])
                ]
    return errors


def check_step_codes(values: dict) -> None:
    """An edit of a step names only registered qualifications and equipment types."""
    raw = values.get("required_qualifications") or ()
    qualifications = {raw} if isinstance(raw, str) else {str(code) for code in raw}
    equipment = {values["equipment_type_code"]} if values.get("equipment_type_code") else set()
    bad_q, _, bad_e = _unknown(qualifications, set(), equipment)
    fields: dict[str, list[str]] = {}
    if bad_q:
        fields["required_qualifications"] = [_qualification_message(c) for c in sorted(bad_q)]
    if bad_e:
        fields["equipment_type_code"] = [_equipment_message(c) for c in sorted(bad_e)]
    if fields:
        raise UnregisteredCode(next(iter(fields.values()))[0], fields=fields)


def check_material_code(code: str) -> None:
    _, bad_m, _ = _unknown(set(), {code}, set())
    if bad_m:
        message = _material_message(code)
        raise UnregisteredCode(message, fields={"material_code": [message]})
