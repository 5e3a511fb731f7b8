"""Editing a draft from the QA workspace (its header, operations, steps, materials, data
fields) and importing a document as a draft. Each form posts, the authoring service decides,
and a refusal comes back as errors at the fields it names (POST, redirect, GET otherwise)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from batchrecords import selectors
from batchrecords.exchange import parse_json
from batchrecords.forms import DRAFT_FORMS, ImportForm, StepChangeForm, draft_form
from batchrecords.models import Step
from batchrecords.services import authoring
from batchrecords.services import versions as lifecycle
from batchrecords.services._common import AUTHOR, EDIT
from batchrecords.views import version_page
from mes.errors import DomainError


def add_domain_error(form, error: DomainError) -> None:
    """The refusal at the fields it names (its message once, at the top, when it names none
    of the form's fields), so the summary never says the same thing twice."""
    named = {name: problems for name, problems in error.fields.items() if name in form.fields}
    if not named:
        form.add_error(None, error.message)
    for name, problems in named.items():
        for problem in problems:
            form.add_error(name, problem)


def _apply(part: str, form, actor, version):
    data = form.cleaned_data
    if part == "header":
        authoring.change_header(actor=actor, version=version, title=data["title"],
                                change_summary=data["change_summary"], reason=data["reason"])
        return "The header was changed."
    if part == "operation":
        authoring.add_operation(actor=actor, version=version, code=data["code"],
                                name=data["name"])
        return f"Operation {data['code']} added."
    if part == "step":
        attributes = form.attributes()
        title = attributes.pop("title")
        authoring.add_step(actor=actor, operation=data["operation"], code=data["code"],
                           title=title, **attributes)
        return f"Step {data['code']} added to {data['operation'].code}."
    if part == "material":
        authoring.add_material(actor=actor, step=data["step"], material_code=data["material_code"],
                               quantity=data["quantity"], unit=data["unit"],
                               tolerance=data["tolerance"] or 0)
        return f"Material {data['material_code']} added to step {data['step'].code}."
    authoring.add_data_field(actor=actor, step=data["step"], key=data["key"],
                             label=data["label"], kind=data["kind"], **form.attributes())
    return f"Data field {data['key']} added to step {data['step'].code}."


@login_required
@permission_required(EDIT, raise_exception=True)
@require_POST
def edit_draft(request, pk: int, part: str):
    if part not in DRAFT_FORMS:
        raise Http404("No such part of a draft.")
    version = selectors.version(request.user, pk)
    form = draft_form(part, version, request.POST)
    status = 400
    if form.is_valid():
        try:
            done = _apply(part, form, request.user, version)
        except DomainError as error:
            add_domain_error(form, error)
            status = error.status
        else:
            messages.success(request, done)
            return redirect("batchrecords:version-detail", version.pk)
    version = selectors.version(request.user, pk)  # as it stands after the refused edit
    return version_page(request, version, bound=form, status=status)


@login_required
@permission_required(EDIT, raise_exception=True)
def edit_step(request, pk: int, step: int):
    version = selectors.version(request.user, pk)
    step = get_object_or_404(
        Step.objects.select_related("operation"), pk=step, operation__version=version
    )
    if not version.is_draft:
        messages.error(request, f"{version} is not a draft: only a draft is edited.")
        return redirect("batchrecords:version-detail", version.pk)
    if request.method != "POST":
        form = StepChangeForm(initial=StepChangeForm.initial_for(step))
        return _step_page(request, version, step, form)
    form = StepChangeForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            authoring.change_step(actor=request.user, step=step,
                                  reason=form.cleaned_data["reason"], **form.attributes())
        except DomainError as error:
            add_domain_error(form, error)
            status = error.status
        else:
            messages.success(request, f"Step {step.code} was changed.")
            return redirect("batchrecords:version-detail", version.pk)
    return _step_page(request, version, step, form, status=status)


def _step_page(request, version, step, form, status: int = 200):
    return render(request, "batchrecords/version_step_form.html",
                  {"version": version, "master": version.master, "step": step, "form": form},
                  status=status)


@login_required
@permission_required(AUTHOR, raise_exception=True)
def import_version(request):
    """A document file arrives as a draft; a malformed one is refused with the path of each
    error, at the file field."""
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            document = parse_json(form.cleaned_data["document"])
            version = lifecycle.import_document(
                actor=request.user, site=form.cleaned_data["site"], document=document
            )
        except DomainError as error:
            # The message once at the top; each error of the file at the file, by its path.
            if set(error.fields) - {"$"} or not error.fields:
                form.add_error(None, error.message)
            for path, problems in error.fields.items():
                for problem in problems:
                    form.add_error("document", problem if path == "$" else f"{path}: {problem}")
        else:
            messages.success(request, f"{version} imported as a draft.")
            return redirect("batchrecords:version-detail", version.pk)
    status = 400 if form.errors else 200
    return render(request, "batchrecords/master_import.html", {"form": form}, status=status)
