"""People and their access: the Administrator's pages. Access changes are signed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mes import selectors
from mes.errors import DomainError
from mes.forms import AccessChangeForm, CreateUserForm, ReasonForm, SignForm
from mes.models import Meaning, User
from mes.services import access, security
from mes.ui import add_domain_error, render_sign_dialog, signed_response


@login_required
@permission_required("mes.view_user", raise_exception=True)
def user_list(request):
    people = User.objects.visible_to(request.user).prefetch_related("groups").order_by(
        "full_name")
    query = request.GET.get("q", "").strip()
    if query:
        people = people.filter(Q(full_name__icontains=query) | Q(username__icontains=query))
    page = Paginator(people, 50).get_page(request.GET.get("page"))
    return render(request, "mes/user_list.html", {"page": page, "q": query})


@login_required
@permission_required("mes.view_user", raise_exception=True)
def user_detail(request, pk: int):
    person = get_object_or_404(User.objects.visible_to(request.user), pk=pk)
    return render(request, "mes/user_detail.html", {
        "person": person,
        "roles": person.groups.order_by("name"),
        "person_sites": person.sites(),
        "history": selectors.access_history(person),
        "form": AccessChangeForm(actor=request.user),
        "active_form": ReasonForm(),
        "can_manage": request.user.has_perm("mes.manage_access") and person != request.user,
        "locked": security.is_locked(person.username),
    })


@login_required
@permission_required("mes.manage_access", raise_exception=True)
def access_change(request, pk: int):
    """GET/POST the access-change form; a valid form opens the sign dialog, whose POST
    (with the password) applies and signs the change."""
    person = get_object_or_404(User.objects.visible_to(request.user), pk=pk)
    form = AccessChangeForm(request.POST or None, actor=request.user)
    if request.method != "POST" or not form.is_valid():
        return render(request, "mes/access_change_form.html",
                      {"person": person, "form": form}, status=400 if form.errors else 200)
    data = form.cleaned_data
    subject = f"role {data['role'].name}" if data["role"] else f"site {data['site']}"
    summary = [
        ("Person", str(person)),
        ("Change", f"{dict(form.fields['action'].choices)[data['action']]} {subject}"),
        ("Reason", data["reason"]),
    ]
    sign_form = SignForm(request.POST if "password" in request.POST else None)
    if "password" not in request.POST:
        try:  # say why it cannot be approved instead of asking for a password (UI.md)
            access.check_access_change(actor=request.user, user=person, action=data["action"],
                                       role=data["role"], site=data["site"],
                                       reason=data["reason"])
        except DomainError as error:
            add_domain_error(form, error)
            return render(request, "mes/access_change_form.html",
                          {"person": person, "form": form}, status=400)
        return render_sign_dialog(request, title="Approve access change", summary=summary,
                                  meaning=Meaning.APPROVED, form=form, sign_form=sign_form,
                                  action=reverse("user-access", args=[person.pk]))
    try:
        access.change_access(
            actor=request.user, password=request.POST.get("password", ""), user=person,
            action=data["action"], role=data["role"], site=data["site"],
            reason=data["reason"], request=request,
        )
    except DomainError as error:
        return render_sign_dialog(request, title="Approve access change", summary=summary,
                                  meaning=Meaning.APPROVED, form=form, sign_form=sign_form,
                                  action=reverse("user-access", args=[person.pk]), error=error)
    messages.success(request, f"Access change approved and signed for {person.full_name}.")
    return signed_response(request, reverse("user-detail", args=[person.pk]))


@login_required
@permission_required("mes.add_user", raise_exception=True)
def user_create(request):
    form = CreateUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = access.create_user(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Account {person.username} opened. Grant roles and "
                                      "sites below.")
            return redirect("user-detail", pk=person.pk)
    return render(request, "mes/user_create.html", {"form": form},
                  status=400 if form.errors else 200)


@login_required
@permission_required("mes.change_user", raise_exception=True)
@require_POST
def user_set_active(request, pk: int):
    person = get_object_or_404(User.objects.visible_to(request.user), pk=pk)
    form = ReasonForm(request.POST)
    active = request.POST.get("active") == "1"
    if not form.is_valid():
        messages.error(request, "A reason is required to change an account's status.")
        return redirect("user-detail", pk=pk)
    try:
        access.set_user_active(actor=request.user, user=person, active=active,
                               reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Account {'reactivated' if active else 'deactivated'}.")
    return redirect("user-detail", pk=pk)


@login_required
@permission_required("mes.change_user", raise_exception=True)
@require_POST
def user_unlock(request, pk: int):
    person = get_object_or_404(User.objects.visible_to(request.user), pk=pk)
    try:
        security.unlock_account(actor=request.user, user=person,
                                reason=request.POST.get("reason", ""))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Account {person.username} unlocked.")
    return redirect("user-detail", pk=pk)
