from django import template

from mes.services.signatures import signatures_for, verify_against

register = template.Library()


@register.inclusion_tag("mes/_signatures.html")
def signature_block(record, zone=None):
    """Every signature on ``record`` with its manifestation and whether it still verifies.
    Uses prefetched ``record.signatures`` when the view prefetched them (no N+1)."""
    if hasattr(record, "signatures"):
        signatures = list(record.signatures.all())
    else:
        signatures = signatures_for(record)
    return {
        "items": [(s, verify_against(s, record)) for s in signatures],
        "zone": zone or getattr(getattr(record, "site", None), "zone", None),
    }


@register.simple_tag
def audit_url(record) -> str:
    from django.urls import reverse

    meta = record._meta
    return reverse("audit-trail", args=[meta.app_label, meta.model_name, record.pk])
