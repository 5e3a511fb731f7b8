from django import template

from mes import identifiers
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


# One rendering per identifier, date and quantity (UI.md): thin filters over mes.identifiers.
register.filter("coi", identifiers.coi)
register.filter("coi_text", identifiers.coi_text)
register.filter("scan_string", identifiers.scan_string)
register.filter("gtin", identifiers.gtin)
register.filter("gtin_list", identifiers.gtin_list)
register.filter("lot_number", identifiers.lot_number)
register.filter("batch_number", identifiers.batch_number)
register.filter("quantity", identifiers.quantity)
register.filter("number", identifiers.number_text)


@register.filter
def when(value, zone=None):
    """``{{ moment|when:site }}``: ``2026-11-30 14:05 CET`` in the site's zone (UTC if none)."""
    return identifiers.when(value, zone)


@register.filter
def when_text(value, zone=None):
    """As ``when``, as plain text (a second reading of a moment already in a ``<time>``)."""
    return identifiers.when_text(value, zone)


@register.filter
def when_seconds(value, zone=None):
    """As ``when``, to the second (audit and security records)."""
    return identifiers.when(value, zone, seconds=True)


@register.filter
def day(value, zone=None):
    """``{{ date|day }}``: ``2026-11-30``; a moment is put in the site's zone first."""
    return identifiers.day(value, zone)
