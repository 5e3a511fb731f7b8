"""The operator terminal's "raise deviation": it asks only what happened and takes the site,
subject, batch and patient from the context the button was pressed in."""

from __future__ import annotations

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render

from deviations import forms, selectors
from deviations.services import raise_deviation as raise_service
from mes.errors import DomainError


def resolve_subject(user, label: str, pk: str):
    """The record named ``app_label.model`` + pk, if this person may see it (else 404)."""
    if not label:
        return None
    try:
        record = selectors.visible_subject(user, label, pk)
    except LookupError:
        raise Http404("No such kind of record.") from None
    if record is None:
        raise Http404("No such record.")
    return record


def _context_site(user, subject, code: str):
    site = getattr(subject, "site", None) if subject is not None else None
    if site is not None:
        return site
    sites = user.sites().order_by("code")
    if code:
        site = sites.filter(code=code).first()
        if site is None:
            raise Http404("No such site.")
        return site
    return sites.first() if sites.count() == 1 else None


@login_required
@permission_required("deviations.raise_deviation", raise_exception=True)
def raise_deviation(request):
    params = request.POST if request.method == "POST" else request.GET
    subject = resolve_subject(request.user, params.get("subject", ""), params.get("id", ""))
    site = _context_site(request.user, subject, params.get("site", ""))
    form = forms.RaiseForm(request.POST or None)
    if site is None:
        form.fields["site"] = django_forms.ModelChoiceField(
            queryset=request.user.sites().order_by("code"), label="Where")
    context = {"batch": params.get("batch", "").strip(), "coi": params.get("coi", "").strip()}
    if request.method == "POST" and form.is_valid():
        try:
            deviation = raise_service(
                reporter=request.user, site=site or form.cleaned_data["site"],
                title=form.cleaned_data["title"], description=form.cleaned_data["description"],
                immediate_actions=form.cleaned_data["immediate_actions"], subject=subject,
                batch_number=context["batch"], patient_coi=context["coi"], source="manual")
        except DomainError as error:
            form.add_error(None, error.message)
            for field, errors in error.fields.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, f"Deviation {deviation.number} raised. QA has been told.")
            return redirect("deviations:detail", pk=deviation.pk)
    return render(request, "deviations/raise.html", {
        "form": form, "subject": subject, "site": site, **context,
        "subject_param": params.get("subject", ""), "id_param": params.get("id", ""),
    }, status=400 if form.errors else 200)
