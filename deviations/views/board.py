"""The QA board, "my deviations", the live badge and the deviation page."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from deviations import forms, selectors
from deviations.models import Status
from deviations.services.independence import independence_refusal

PAGE_SIZE = 100


def time_left(deviation, now) -> tuple[str, str, object]:
    """(css class, words, deadline) for the deadline the deviation works against now."""
    kind, due = deviation.running_deadline()
    if kind is None:
        return "", "", None
    left = due - now
    if left <= timedelta(0):
        return "pill-bad", f"{kind} overdue by {_duration(-left)}", due
    if left <= timedelta(hours=1):
        return "pill-warn", f"{kind} in {_duration(left)}", due
    return "pill-ok", f"{kind} in {_duration(left)}", due


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} days"


def _rows(page):
    now = timezone.now()
    return [(deviation, *time_left(deviation, now)) for deviation in page]


@login_required
@permission_required("deviations.view_board", raise_exception=True)
def board(request):
    form = forms.BoardFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    deviations = selectors.board(
        request.user, site=filters.get("site"),
        classification=filters.get("classification", ""),
        patient_impact=filters.get("patient_impact", ""), status=filters.get("status", ""))
    page = Paginator(deviations, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "deviations/board.html", {
        "form": form, "page": page, "rows": _rows(page), "query": query.urlencode(),
        "on_board": True})


@login_required
@permission_required("deviations.raise_deviation", raise_exception=True)
def mine(request):
    page = Paginator(selectors.raised_by(request.user), 30).get_page(request.GET.get("page"))
    return render(request, "deviations/mine.html", {"page": page, "rows": _rows(page)})


@login_required
def badge(request):
    """Polled by htmx with the background header: never extends the session."""
    counts = {"waiting": 0, "overdue": 0}
    if request.user.has_perm("deviations.view_board"):
        counts = selectors.waiting_counts(request.user)
    return render(request, "deviations/_badge.html", counts)


@login_required
@permission_required("deviations.view_deviation", raise_exception=True)
def detail(request, pk: int):
    deviation = selectors.detail(request.user, pk)
    user = request.user
    css, words, due = time_left(deviation, timezone.now())
    active = deviation.is_active
    acknowledged = active and deviation.status != Status.OPEN
    allowed = {
        "acknowledge": deviation.status == Status.OPEN
        and user.has_perm("deviations.acknowledge_deviation"),
        "classify": active and user.has_perm("deviations.classify_deviation"),
        "dispose": acknowledged and user.has_perm("deviations.dispose_deviation"),
        "investigate": acknowledged and user.has_perm("deviations.investigate_deviation"),
        "capa": acknowledged and user.has_perm("deviations.manage_capa"),
        "close": acknowledged and user.has_perm("deviations.close_deviation"),
        "cancel": active and user.has_perm("deviations.cancel_deviation"),
        "immediate": active and user.has_perm("deviations.raise_deviation"),
    }
    # An action the person could otherwise take but may not, as the deviation's raiser, is
    # not offered: the page says why instead (UI.md, signing).
    blocked = {action: reason for action, ok in allowed.items()
               if ok and (reason := independence_refusal(user, deviation, action))}
    return render(request, "deviations/detail.html", {
        "deviation": deviation, "time_css": css, "time_words": words, "due": due,
        "timeline": selectors.timeline(deviation),
        "capas": list(deviation.capaactions.all()),
        "can": {action: ok and action not in blocked for action, ok in allowed.items()},
        "blocked": blocked,
        "forms": {
            "acknowledge": forms.AcknowledgeForm(), "classify": forms.ClassifyForm(initial={
                "classification": deviation.classification,
                "patient_impact": deviation.patient_impact}),
            "dispose": forms.DispositionForm(), "investigate": forms.InvestigationForm(),
            "capa": forms.CapaForm(site=deviation.site), "close": forms.CloseForm(),
            "cancel": forms.ReasonForm(), "comment": forms.CommentForm(),
            "complete": forms.CapaCompleteForm(),
            "immediate": forms.ImmediateActionsForm(
                initial={"immediate_actions": deviation.immediate_actions}),
        },
    })
