"""Training pages: the certification matrix, a person's training and certifications, and the
signed flows (grant, renew, suspend, reinstate, revoke; record and verify training)."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from mes.errors import DomainError
from mes.forms import SignForm
from mes.models import Meaning, User
from mes.presenters import row_url
from mes.ui import add_domain_error, render_sign_dialog, signed_response
from training import selectors
from training.forms import (
    DecisionForm,
    GrantForm,
    MakeEffectiveForm,
    MatrixFilterForm,
    NewRevisionForm,
    RecordTrainingForm,
)
from training.models import Certification, SOPDocument, SOPRevision, TrainingRecord
from training.services import certifications, records, sops
from training.services.gate import local_date

MATRIX_PAGE_SIZE = 25  # people per page: a screenful of rows, 750 cells at 30 qualifications

DECISIONS = {
    "suspend": ("Suspend certification", certifications.suspend_certification, "suspended"),
    "reinstate": ("Reinstate certification", certifications.reinstate_certification,
                  "reinstated"),
    "revoke": ("Revoke certification", certifications.revoke_certification, "revoked"),
    "renew": ("Renew certification", certifications.renew_certification, "renewed"),
}


def _matrix_data(request):
    """The matrix's filters, all in the URL; a filter that does not validate is ignored
    (the form shows why) rather than failing the page."""
    form = MatrixFilterForm(request.GET or None, user=request.user)
    sites = form.fields["site"].queryset
    data = form.cleaned_data if form.is_valid() else getattr(form, "cleaned_data", {})
    site = data.get("site")
    if site is None and request.GET.get("site") and "site" in form.errors:
        site = sites.filter(code=request.GET["site"]).first()
    site = site or sites.first()
    return form, site, {key: data.get(key) or "" for key in ("qualification", "grade",
                                                              "status", "q")}


@login_required
@permission_required("training.view_training_matrix", raise_exception=True)
def matrix(request):
    """People × qualifications for one site, paged by people, each cell judged by the gate's
    rule (once per person shown)."""
    form, site, filters = _matrix_data(request)
    if site is None:
        return render(request, "training/matrix.html", {"form": form, "site": None})
    on = local_date(site, None)
    qualifications = selectors.matrix_qualifications(qualification=filters["qualification"])
    wanted = {"site": site, "qualifications": qualifications, "on": on,
              "grade": filters["grade"], "status": filters["status"], "name": filters["q"]}
    if request.GET.get("format") == "csv":
        _, rows = selectors.matrix_page(**wanted)
        return _matrix_csv(site, on, qualifications, rows)
    page, rows = selectors.matrix_page(**wanted, page=request.GET.get("page") or 1,
                                       per_page=MATRIX_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "training/matrix.html", {
        "form": form, "site": site, "on": on, "qualifications": qualifications, "rows": rows,
        "lines": [(person, row_url("training:person", person.pk),
                   mark_safe("".join([cell.as_td() for cell in cells])))  # noqa: S308 (as_td escapes)
                  for person, cells in rows],
        "page": page, "query": query.urlencode(), "grade": filters["grade"],
        "status": filters["status"],
        "status_label": dict(selectors.CELL_STATES).get(filters["status"], ""),
    })


def _matrix_csv(site, on, qualifications, rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="certification-matrix-{site.code}-{on.isoformat()}.csv"')
    writer = csv.writer(response)
    writer.writerow(["Person", "Username", *[q.code for q in qualifications]])
    for person, cells in rows:
        writer.writerow([person.full_name, person.username, *[
            (f"{cell.label} until {cell.certification.valid_until.isoformat()}"
             if cell.certification else "") for cell in cells]])
    return response


def _visible_person(request, pk: int) -> User:
    if pk != request.user.pk and not request.user.has_perm("training.view_certification"):
        raise PermissionDenied
    return get_object_or_404(User.objects.visible_to(request.user), pk=pk)


@login_required
def me(request):
    return redirect("training:person", pk=request.user.pk)


@login_required
def person_detail(request, pk: int):
    """A person's certifications with every signed decision, and their training records."""
    person = _visible_person(request, pk)
    viewer = request.user
    sites = viewer.sites()
    certs = list(selectors.certifications_of(person, sites=sites))
    standing = selectors.standing_of(person, certs)
    for cert in certs:
        cert.cell = standing.get((cert.site_id, cert.qualification_id))
    trainings = selectors.training_records(TrainingRecord.objects.visible_to(viewer)
                                           .filter(trainee=person))
    can_decide = viewer.has_perm("training.decide_certification") and viewer != person
    return render(request, "training/person.html", {
        "person": person, "certifications": certs,
        "trainings": Paginator(trainings, 50).get_page(request.GET.get("page")),
        "can_decide": can_decide,
        "grant_form": GrantForm(actor=viewer, person=person) if can_decide else None,
        "decision_form": DecisionForm(),
        "is_me": viewer == person,
        "record_form": (RecordTrainingForm(trainee=viewer)
                        if viewer == person and viewer.has_perm("training.sign_own_training")
                        else None),
        "today": timezone.localdate(),
    })


def _sign_flow(request, *, form, title, summary, meaning, action, run, done_message, next_url):
    """The shared shape of a signed flow: a valid form opens the dialog; the dialog's POST
    with the password runs the service; a domain error re-opens the dialog with it."""
    sign_form = SignForm(request.POST if "password" in request.POST else None)
    if "password" not in request.POST:
        return render_sign_dialog(request, title=title, summary=summary, meaning=meaning,
                                  form=form, sign_form=sign_form, action=action)
    try:
        run(request.POST.get("password", ""))
    except DomainError as error:
        return render_sign_dialog(request, title=title, summary=summary, meaning=meaning,
                                  form=form, sign_form=sign_form, action=action, error=error)
    messages.success(request, done_message)
    return signed_response(request, next_url)


def _form_error(request, template: str, context: dict, form) -> HttpResponse:
    return render(request, template, context, status=400 if form.errors else 200)


@login_required
@permission_required("training.decide_certification", raise_exception=True)
def grant(request, pk: int):
    person = _visible_person(request, pk)
    form = GrantForm(request.POST or None, actor=request.user, person=person)
    if request.method != "POST" or not form.is_valid():
        return _form_error(request, "training/grant_form.html",
                           {"person": person, "form": form}, form)
    data = form.cleaned_data
    try:  # everything but the password is checked before the dialog opens (UI.md, Signing)
        if "password" not in request.POST:
            certifications.check_grant(
                actor=request.user, person=person, qualification=data["qualification"],
                site=data["site"], reason=data["reason"], valid_from=data["valid_from"])
    except DomainError as error:
        add_domain_error(form, error)
        return _form_error(request, "training/grant_form.html",
                           {"person": person, "form": form}, form)
    summary = [
        ("Person", str(person)),
        ("Certification", f"{data['qualification']} at {data['site'].code}"),
        ("Valid from", (data["valid_from"] or local_date(data["site"], None)).isoformat()),
        ("Reason", data["reason"]),
    ]

    def run(password):
        certifications.grant_certification(
            actor=request.user, password=password, person=person,
            qualification=data["qualification"], site=data["site"],
            valid_from=data["valid_from"], reason=data["reason"], request=request)

    return _sign_flow(request, form=form, title="Grant certification", summary=summary,
                      meaning=Meaning.APPROVED, action=reverse("training:grant", args=[pk]),
                      run=run, next_url=reverse("training:person", args=[pk]),
                      done_message=f"{data['qualification'].code} granted to "
                                   f"{person.full_name} and signed.")


@login_required
@permission_required("training.decide_certification", raise_exception=True)
def decide(request, pk: int, action: str):
    if action not in DECISIONS:
        raise Http404("No such decision.")
    certification = get_object_or_404(
        Certification.objects.visible_to(request.user).select_related(
            "person", "qualification", "site"), pk=pk)
    title, service, done = DECISIONS[action]
    person = certification.person
    form = DecisionForm(request.POST or None)
    action_url = reverse("training:decide", args=[pk, action])
    if request.method != "POST" or not form.is_valid():
        return _form_error(request, "training/decision_form.html",
                           {"certification": certification, "form": form, "title": title,
                            "action_url": action_url}, form)
    try:  # everything but the password is checked before the dialog opens (UI.md, Signing)
        if "password" not in request.POST:
            certifications.check_decision(actor=request.user, certification=certification,
                                          action=action)
    except DomainError as error:
        add_domain_error(form, error)
        return _form_error(request, "training/decision_form.html",
                           {"certification": certification, "form": form, "title": title,
                            "action_url": action_url}, form)
    reason = form.cleaned_data["reason"]
    summary = [
        ("Person", str(person)),
        ("Certification", f"{certification.qualification} at {certification.site.code}, "
                          f"valid until {certification.valid_until.isoformat()}"),
        ("Decision", title),
        ("Reason", reason),
    ]

    def run(password):
        service(actor=request.user, password=password, certification=certification,
                reason=reason, request=request)

    return _sign_flow(request, form=form, title=title, summary=summary,
                      meaning=Meaning.APPROVED, action=action_url, run=run,
                      next_url=reverse("training:person", args=[person.pk]),
                      done_message=f"{certification.qualification.code} of "
                                   f"{person.full_name} {done} and signed.")


@login_required
@permission_required("training.sign_own_training", raise_exception=True)
def record_training(request):
    form = RecordTrainingForm(request.POST or None, trainee=request.user)
    if request.method != "POST" or not form.is_valid():
        return _form_error(request, "training/record_form.html", {"form": form}, form)
    data = form.cleaned_data
    if "password" not in request.POST:  # say why before asking for a password (UI.md)
        try:
            records.check_record_training(actor=request.user, **data)
        except DomainError as error:
            add_domain_error(form, error)
            return _form_error(request, "training/record_form.html", {"form": form}, form)
    summary = [
        ("Trainee", str(request.user)),
        ("SOP revision", f"{data['sop_revision']} · {data['sop_revision'].document.title}"),
        ("Trainer", data["trainer"].full_name),
        ("Trained on", data["trained_on"].isoformat()),
        ("Assessment", TrainingRecord.Assessment(data["assessment"]).label),
    ]

    def run(password):
        records.record_training(actor=request.user, password=password, request=request,
                                **data)

    return _sign_flow(request, form=form, title="Record your training", summary=summary,
                      meaning=Meaning.TRAINED, action=reverse("training:record"), run=run,
                      next_url=reverse("training:person", args=[request.user.pk]),
                      done_message="Training recorded and signed; your trainer verifies it "
                                   "next.")


@login_required
@permission_required("training.verify_training", raise_exception=True)
def verify_training(request, pk: int):
    record = get_object_or_404(
        selectors.training_records(TrainingRecord.objects.visible_to(request.user)), pk=pk)
    if request.method != "POST":
        return redirect("training:person", pk=record.trainee_id)
    if "password" not in request.POST:  # say why instead of opening the dialog (UI.md)
        try:
            records.check_verify_training(actor=request.user, record=record)
        except DomainError as error:
            messages.error(request, error.message)
            return signed_response(request, reverse("training:person", args=[record.trainee_id]))
    summary = [
        ("Trainee", str(record.trainee)),
        ("SOP revision", f"{record.sop_revision} · {record.sop_revision.document.title}"),
        ("Trained on", record.trained_on.isoformat()),
        ("Assessment", record.get_assessment_display()),
    ]

    def run(password):
        records.verify_training(actor=request.user, password=password, record=record,
                                request=request)

    return _sign_flow(request, form=DecisionForm(), title="Verify training", summary=summary,
                      meaning=Meaning.VERIFIED,
                      action=reverse("training:verify", args=[pk]), run=run,
                      next_url=reverse("training:person", args=[record.trainee_id]),
                      done_message=f"Training of {record.trainee.full_name} verified and "
                                   "signed.")


@login_required
@permission_required("training.view_sopdocument", raise_exception=True)
def sop_list(request):
    """SOPs with their revisions, and the qualifications that require them."""
    documents = Paginator(selectors.sop_documents(), 50).get_page(request.GET.get("page"))
    return render(request, "training/sops.html", {
        "page": documents, "qualifications": selectors.matrix_qualifications(),
        "can_manage": request.user.has_perm("training.add_sopdocument"),
        "effective_form": MakeEffectiveForm(), "revision_form": NewRevisionForm(),
    })


@login_required
@permission_required("training.add_sopdocument", raise_exception=True)
@require_POST
def sop_add_revision(request, pk: int):
    document = get_object_or_404(SOPDocument, pk=pk)
    form = NewRevisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A revision number is required.")
        return redirect("training:sops")
    try:
        sops.add_sop_revision(actor=request.user, document=document, **form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Draft revision {form.cleaned_data['revision']} of "
                                  f"{document.number} added.")
    return redirect("training:sops")


@login_required
@permission_required("training.add_sopdocument", raise_exception=True)
@require_POST
def sop_make_effective(request, pk: int):
    revision = get_object_or_404(SOPRevision.objects.select_related("document"), pk=pk)
    form = MakeEffectiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An effective date and a reason are required.")
        return redirect("training:sops")
    try:
        sops.make_revision_effective(actor=request.user, revision=revision,
                                     **form.cleaned_data)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{revision} is effective from "
                                  f"{form.cleaned_data['effective_date'].isoformat()}; the "
                                  "previous revision is superseded.")
    return redirect("training:sops")
