"""Registering a suite's terminals from the suite page (21 CFR 11.10(h) device checks).

A Supervisor, at the suite's own browser, registers it as a terminal of the suite: the
browser keeps the secret in a long-lived, HttpOnly, SameSite=Strict cookie (Secure in
production) and presents it on every step it signs. The secret is shown once afterwards,
for an integration to send in ``X-MES-Terminal``; the server keeps only its hash, and the page
that shows it reads it back from the browser's own cookie."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone

from mes.errors import DomainError
from scheduling import selectors
from scheduling.models import Suite, Terminal
from scheduling.selectors import TERMINAL_COOKIE, TERMINAL_HEADER, terminal_for_request
from scheduling.services import terminals as service

COOKIE_MAX_AGE = 5 * 365 * 24 * 3600  # a terminal stays registered until it is withdrawn
SHOWN = "scheduling_terminal_registered"  # which terminal's secret the next page shows once
SHOW_SECONDS = 120


class RegisterTerminalForm(forms.Form):
    name = forms.CharField(label="Name of this terminal", max_length=64,
                           help_text="Where it stands, e.g. “S1 bench left”.")


class WithdrawTerminalForm(forms.Form):
    reason = forms.CharField(label="Why is the terminal withdrawn?", max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 3}))


def terminals_context(request, suite: Suite) -> dict:
    """The suite page's terminal section, for those who register or withdraw terminals."""
    user = request.user
    if not (user.has_perm(service.REGISTER) or user.has_perm(service.WITHDRAW)):
        return {"terminals": None}
    return {"terminals": list(selectors.terminals_of(suite)),
            "this_terminal": terminal_for_request(request)}


def _suite(request, pk: int) -> Suite:
    suite = selectors.suites_for(request.user).filter(pk=pk).first()
    if suite is None:
        raise Http404("No such suite.")
    return suite


def _refused(form, error: DomainError) -> int:
    form.add_error(None, error.message)
    for field, complaints in error.fields.items():
        if field in form.fields and field not in form.errors:
            for complaint in complaints:
                form.add_error(field, complaint)
    return error.status


def _page(request, template: str, form, status: int, **context):
    return render(request, template, {"form": form, **context},
                  status=400 if form.errors and status == 200 else status)


@login_required
@permission_required(service.REGISTER, raise_exception=True)
def register(request, pk: int):
    suite = _suite(request, pk)
    form = RegisterTerminalForm(request.POST or None)
    status = 200
    # One browser is one terminal: registering it again would orphan the first registration.
    this_terminal = terminal_for_request(request)
    if request.method == "POST" and this_terminal is None and form.is_valid():
        try:
            terminal, secret = service.register_terminal(actor=request.user, suite=suite,
                                                         name=form.cleaned_data["name"])
        except DomainError as error:
            status = _refused(form, error)
        else:
            request.session[SHOWN] = {"terminal": terminal.pk,
                                      "until": timezone.now().timestamp() + SHOW_SECONDS}
            response = redirect("scheduling:terminal-registered", suite.pk, terminal.pk)
            response.set_cookie(TERMINAL_COOKIE, secret, max_age=COOKIE_MAX_AGE,
                                secure=settings.SESSION_COOKIE_SECURE, httponly=True,
                                samesite="Strict")
            return response
    return _page(request, "scheduling/terminal_register.html", form, status, suite=suite,
                 this_terminal=this_terminal)


@login_required
@permission_required(service.REGISTER, raise_exception=True)
def registered(request, pk: int, terminal_pk: int):
    """Shown once after the registration: the secret, read back from this browser's cookie
    (the server has only its hash). A reload or a later visit does not show it again."""
    suite = _suite(request, pk)
    terminal = Terminal.objects.filter(suite=suite, pk=terminal_pk).first()
    if terminal is None:
        raise Http404("No such terminal.")
    shown = request.session.pop(SHOWN, None)
    secret = request.COOKIES.get(TERMINAL_COOKIE, "")
    if not (shown and shown.get("terminal") == terminal.pk
            and shown.get("until", 0) >= timezone.now().timestamp()
            and secret and service.key_hash(secret) == terminal.key_hash):
        secret = ""
    response = render(request, "scheduling/terminal_registered.html", {
        "suite": suite, "terminal": terminal, "secret": secret, "header": TERMINAL_HEADER})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@permission_required(service.WITHDRAW, raise_exception=True)
def withdraw(request, pk: int, terminal_pk: int):
    suite = _suite(request, pk)
    terminal = Terminal.objects.filter(suite=suite, pk=terminal_pk).first()
    if terminal is None:
        raise Http404("No such terminal.")
    form = WithdrawTerminalForm(request.POST or None)
    status = 200
    if (request.method == "POST" and terminal.status == Terminal.Status.ACTIVE
            and form.is_valid()):
        this = terminal_for_request(request)
        try:
            service.withdraw_terminal(actor=request.user, terminal=terminal,
                                      reason=form.cleaned_data["reason"])
        except DomainError as error:
            status = _refused(form, error)
        else:
            messages.success(request, f"Terminal “{terminal.name}” is withdrawn: no step is "
                                      "signed from it any more.")
            response = redirect("scheduling:suite-detail", suite.pk)
            if this is not None and this.pk == terminal.pk:
                response.delete_cookie(TERMINAL_COOKIE, samesite="Strict")
            return response
    return _page(request, "scheduling/terminal_withdraw.html", form, status, suite=suite,
                 terminal=terminal)
