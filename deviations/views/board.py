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
from mes import identifiers
from mes.presenters import row_url

PAGE_SIZE = 50


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


CLASS_CSS = {"critical": "pill-bad", "major": "pill-warn"}
IMPACT_PILL = {"yes": ("pill-bad", "Patient impact"),
               "unknown": ("pill-warn", "Patient impact unknown")}


# What a table row reads: loading only these (not the descriptions, the subject's type, the
# acknowledger) halves the cost of building a page of rows.
ROW_FIELDS = ("number", "title", "source", "escalation_level", "site__code", "classification",
              "classification_confirmed", "patient_impact", "status", "acknowledge_due_at",
              "disposition_due_at", "disposition", "detected_at", "detected_by__full_name")


def for_rows(deviations):
    return deviations.select_related(None).select_related("site", "detected_by").only(*ROW_FIELDS)


def _rows(page, *, acknowledge: bool = False) -> list[dict]:
    """Each deviation of the page as its table row shows it, prepared once in Python as a
    dict (the template engine resolves a dict key without trying attribute lookups first)."""
    now = timezone.now()
    rows = []
    for deviation in page:
        css, words, due = time_left(deviation, now)
        label = deviation.get_classification_display()
        if not deviation.classification_confirmed:
            label += " (provisional)"
        impact_css, impact_label = IMPACT_PILL.get(deviation.patient_impact, ("", ""))
        rows.append({
            "number": deviation.number, "title": deviation.title,
            "url": row_url("deviations:detail", deviation.pk),
            "acknowledge_url": (row_url("deviations:acknowledge", deviation.pk)
                                if acknowledge and deviation.status == Status.OPEN else ""),
            "automatic": deviation.source == "automatic",
            "escalated": deviation.escalation_level - 1, "site": deviation.site.code,
            "class_css": CLASS_CSS.get(deviation.classification, ""), "class_label": label,
            "impact_css": impact_css, "impact_label": impact_label,
            "status": deviation.get_status_display(), "deadline_css": css,
            "deadline_words": words, "deadline": identifiers.when(due) if due else "",
            "detected": identifiers.when(deviation.detected_at),
            "detected_by": deviation.detected_by.full_name})
    return rows


@login_required
@permission_required("deviations.view_board", raise_exception=True)
def board(request):
    form = forms.BoardFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    deviations = selectors.board(
        request.user, site=filters.get("site"),
        classification=filters.get("classification", ""),
        patient_impact=filters.get("patient_impact", ""), status=filters.get("status", ""))
    page = Paginator(for_rows(deviations), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "deviations/board.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "rows": _rows(page, acknowledge=request.user.has_perm("deviations.acknowledge_deviation"))})


@login_required
@permission_required("deviations.raise_deviation", raise_exception=True)
def mine(request):
    mine = for_rows(selectors.raised_by(request.user))
    page = Paginator(mine, 30).get_page(request.GET.get("page"))
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
