"""QA's page for a site's response deadlines and escalation ladder."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render

from deviations import forms
from deviations.models import DeadlinePolicy, EscalationLevel, Tier
from deviations.models.config import DEFAULT_POLICIES
from deviations.services import config
from deviations.services.ladder import DEFAULT_LADDER
from mes.errors import DomainError


def _report(request, form, perform, done: str) -> None:
    if not form.is_valid():
        messages.error(request, "Please correct: " + "; ".join(
            f"{f}: {' '.join(e)}" for f, e in form.errors.items()))
        return
    try:
        perform(form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)


@login_required
@permission_required("deviations.configure_escalation", raise_exception=True)
def settings_page(request, code: str):
    site = get_object_or_404(request.user.sites(), code=code)
    if request.method == "POST":
        what = request.POST.get("what")
        if what == "policy":
            _report(request, forms.PolicyForm(request.POST), lambda d: config.set_deadline_policy(
                actor=request.user, site=site, **d), "Deadline saved.")
        elif what == "level":
            _report(request, forms.LevelForm(request.POST, site=site),
                    lambda d: config.add_escalation_level(actor=request.user, site=site, **d),
                    "Level added to the ladder.")
        elif what == "retire":
            level_pk = request.POST.get("level", "")
            level = get_object_or_404(EscalationLevel, site=site, is_active=True,
                                      pk=level_pk if level_pk.isdigit() else None)
            _report(request, forms.ReasonForm(request.POST),
                    lambda d: config.retire_escalation_level(actor=request.user, level=level,
                                                             reason=d["reason"]),
                    "Level retired.")
        return redirect("deviations:settings", code=site.code)
    saved = {p.tier: p for p in DeadlinePolicy.objects.filter(site=site)}
    policies = []
    for tier in Tier:
        row = saved.get(tier)
        values = DEFAULT_POLICIES[tier] if row is None else {
            "acknowledge_amount": row.acknowledge_amount,
            "acknowledge_unit": row.acknowledge_unit,
            "disposition_amount": row.disposition_amount,
            "disposition_unit": row.disposition_unit}
        policies.append({"tier": tier, "row": row, "default": row is None,
                         "form": forms.PolicyForm(initial={"tier": tier.value, **values},
                                                  prefix=tier.value)})
    levels = list(EscalationLevel.objects.filter(site=site, is_active=True)
                  .select_related("person").order_by("position"))
    return render(request, "deviations/settings.html", {
        "site": site, "policies": policies, "levels": levels,
        "default_ladder": DEFAULT_LADDER if not levels else None,
        "level_form": forms.LevelForm(site=site), "sites": request.user.sites(),
        "reason_form": forms.ReasonForm(),
    })


@login_required
@permission_required("deviations.configure_escalation", raise_exception=True)
def settings_index(request):
    site = request.user.sites().order_by("code").first()
    if site is None:
        return render(request, "403.html", status=403)
    return redirect("deviations:settings", code=site.code)


