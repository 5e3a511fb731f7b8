"""The QA workspace for master records: the list, a version's procedure, the diff between
two versions, and the lifecycle actions. Approval follows the kernel's sign-dialog pattern,
and whether the person may approve is said before any password is asked."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from batchrecords import selectors
from batchrecords.diff import diff_versions
from batchrecords.forms import draft_forms
from batchrecords.models import MasterRecordVersion
from batchrecords.services import versions as lifecycle
from batchrecords.services._common import EDIT
from mes.errors import DomainError
from mes.forms import ReasonForm, SignForm
from mes.models import Meaning
from mes.services.signatures import verify_against
from mes.ui import render_sign_dialog, signed_response

VIEW = "batchrecords.view_masterrecord"
Status = MasterRecordVersion.Status


@login_required
@permission_required(VIEW, raise_exception=True)
def master_list(request):
    rows = []
    for master in selectors.master_records(request.user):
        versions = list(master.versions.all())
        rows.append(
            {
                "master": master,
                "effective": next((v for v in versions if v.status == Status.EFFECTIVE), None),
                "open": [v for v in versions if v.status in (Status.DRAFT, Status.IN_REVIEW)],
                "latest": versions[0] if versions else None,
                "count": len(versions),
            }
        )
    # Exceptions first: what waits for a decision (in review) sits at the top.
    rows.sort(
        key=lambda r: (
            not any(v.status == Status.IN_REVIEW for v in r["open"]),
            r["master"].product.code,
            r["master"].site.code,
        )
    )
    return render(request, "batchrecords/master_list.html", {"rows": rows})


@login_required
@permission_required(VIEW, raise_exception=True)
def version_detail(request, pk: int):
    return version_page(request, selectors.version(request.user, pk))


def content_hash(version) -> str:
    """The version's canonical SHA-256 in groups of eight, as people compare it."""
    digest = version.canonical_hash()
    return " ".join(digest[i : i + 8] for i in range(0, len(digest), 8))


def version_page(request, version, *, bound=None, status: int = 200):
    """The version's page; ``bound`` is a draft form that came back with errors, shown in
    place of its empty twin."""
    user = request.user
    others = list(version.master.versions.exclude(pk=version.pk).order_by("-number"))
    compare_with = version.based_on or next(
        (v for v in others if v.status == Status.EFFECTIVE), None
    )
    approve_refusal = None
    can_approve = user.has_perm(lifecycle.APPROVE) and version.status == Status.IN_REVIEW
    if can_approve:
        approve_refusal = lifecycle.approval_refusal(user, version)
    signatures = list(version.signatures.order_by("signed_at", "pk"))
    # Each signature is checked against the content shown, so a change after signing shows.
    verified = [(s, verify_against(s, version)) for s in signatures] if signatures else []
    can_edit = version.status == Status.DRAFT and user.has_perm(EDIT)
    operations = selectors.procedure(version)
    context = {
        "version": version,
        "master": version.master,
        "operations": operations,
        "has_steps": any(operation.steps.all() for operation in operations),
        "others": others,
        "compare_with": compare_with,
        "signatures": verified,
        "content_hash": content_hash(version),
        "can_submit": version.status == Status.DRAFT and user.has_perm(lifecycle.AUTHOR),
        "can_copy": user.has_perm(lifecycle.AUTHOR),
        "can_approve": can_approve,
        "approve_refusal": approve_refusal,
        "can_retire": user.has_perm(lifecycle.RETIRE) and version.status != Status.RETIRED,
        "can_edit": can_edit,
        "bound": bound,
    }
    if can_edit:
        context["draft_forms"] = draft_forms(version, bound)
    return render(request, "batchrecords/version_detail.html", context, status=status)


@login_required
@permission_required(VIEW, raise_exception=True)
def version_diff(request, pk: int, other: int):
    old = selectors.version(request.user, pk)
    new = selectors.version(request.user, other)
    if old.master_id != new.master_id:
        raise Http404("Versions of different master records are not compared.")
    return render(
        request,
        "batchrecords/version_diff.html",
        {
            "old": old,
            "new": new,
            "master": old.master,
            "differences": diff_versions(old, new),
        },
    )


def _acted(request, version, action, done: str):
    try:
        result = action()
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("batchrecords:version-detail", version.pk)
    messages.success(request, done)
    return redirect("batchrecords:version-detail", (result or version).pk)


@login_required
@permission_required(lifecycle.AUTHOR, raise_exception=True)
@require_POST
def submit(request, pk: int):
    version = selectors.version(request.user, pk)
    return _acted(
        request,
        version,
        lambda: lifecycle.submit_for_review(actor=request.user, version=version),
        f"{version} submitted for review.",
    )


@login_required
@permission_required(lifecycle.AUTHOR, raise_exception=True)
@require_POST
def new_version(request, pk: int):
    version = selectors.version(request.user, pk)
    return _acted(
        request,
        version,
        lambda: lifecycle.new_version_from(actor=request.user, source=version),
        f"New draft made from {version}.",
    )


@login_required
@permission_required(lifecycle.RETIRE, raise_exception=True)
@require_POST
def retire(request, pk: int):
    version = selectors.version(request.user, pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _acted(
        request,
        version,
        lambda: lifecycle.retire_version(actor=request.user, version=version, reason=reason),
        f"{version} retired.",
    )


@login_required
@permission_required(lifecycle.APPROVE, raise_exception=True)
@require_POST
def approve(request, pk: int):
    """Eligibility first (author, status, site); then the sign dialog; then the service."""
    version = selectors.version(request.user, pk)
    refusal = lifecycle.approval_refusal(request.user, version)
    title = f"Approve {version.master.product.code} master record v{version.number}"
    if refusal is not None:
        template = (
            "batchrecords/_refused_dialog.html"
            if request.htmx
            else "batchrecords/refused_page.html"
        )
        return render(
            request,
            template,
            {"title": title, "error": refusal, "version": version},
            status=refusal.status,
        )
    summary = [
        ("Master record", str(version.master)),
        ("Version", f"v{version.number}"),
        ("Title", version.title),
        ("Author", version.author.full_name),
        # What is signed: the same hash the version page shows and the signature will hold.
        ("Content (SHA-256)", content_hash(version)),
        ("Effect", "Becomes effective; the version in force is superseded"),
    ]
    form = ReasonForm(request.POST or None)
    dialog = {
        "title": title,
        "summary": summary,
        "meaning": Meaning.APPROVED,
        "form": form,
        "action": reverse("batchrecords:version-approve", args=[pk]),
    }
    if "password" not in request.POST:
        return render_sign_dialog(request, sign_form=SignForm(), **dialog)
    try:
        lifecycle.approve_version(
            actor=request.user,
            password=request.POST["password"],
            version=version,
            reason=request.POST.get("reason", ""),
            request=request,
        )
    except DomainError as error:
        return render_sign_dialog(request, sign_form=SignForm(request.POST), error=error, **dialog)
    messages.success(request, f"{version} approved and effective.")
    return signed_response(request, reverse("batchrecords:version-detail", args=[pk]))
