from urllib.parse import urlencode

from django import template
from django.urls import reverse

register = template.Library()


@register.simple_tag
def raise_url(subject=None, batch_number: str = "", patient_coi: str = "") -> str:
    """The terminal's raise page with the context filled in from ``subject``: any record
    (its site, batch number and patient COI are taken from it where it has them)."""
    params = {}
    if subject is not None and getattr(subject, "pk", None) is not None:
        params["subject"] = subject._meta.label_lower
        params["id"] = subject.pk
    batch_number = batch_number or getattr(subject, "batch_number", "") or ""
    patient_coi = patient_coi or getattr(subject, "patient_coi", "") or ""
    if batch_number:
        params["batch"] = batch_number
    if patient_coi:
        params["coi"] = patient_coi
    url = reverse("deviations:raise")
    return f"{url}?{urlencode(params)}" if params else url
