"""The material master: what the plant buys, under which GTINs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from mes import audit
from mes.errors import DomainError
from reagents.gs1 import normalise_gtin
from reagents.models import Material, MaterialGtin
from reagents.services.common import require


@transaction.atomic
def create_material(*, user, code: str, name: str, unit: str, storage_condition: str,
                    gtins: list[str], is_critical: bool = True,
                    requires_qa_release: bool = True) -> Material:
    """Add a material with at least one GTIN; a GTIN belongs to one material only."""
    require(user, "reagents.add_material", "add materials")
    normalised = [normalise_gtin(g) for g in gtins if (g or "").strip()]
    if not normalised:
        raise DomainError("A material needs at least one GTIN.", code="invalid",
                          fields={"gtins": ["At least one GTIN."]})
    taken = MaterialGtin.objects.filter(gtin__in=normalised).select_related("material").first()
    if taken is not None:
        raise DomainError(f"GTIN {taken.gtin} already belongs to {taken.material}.",
                          code="gtin_taken", fields={"gtins": ["Already used."]})
    material = Material(code=(code or "").strip().upper(), name=(name or "").strip(),
                        unit=(unit or "").strip(), storage_condition=storage_condition,
                        is_critical=is_critical, requires_qa_release=requires_qa_release)
    try:
        material.full_clean()
    except ValidationError as exc:
        raise DomainError("The material is not valid.", code="invalid",
                          fields=exc.message_dict) from exc
    audit.stamp(material, user=user, reason="Material added")
    material.save()
    for gtin in dict.fromkeys(normalised):
        entry = MaterialGtin(material=material, gtin=gtin)
        audit.stamp(entry, user=user, reason="Material added")
        entry.save()
    return material
