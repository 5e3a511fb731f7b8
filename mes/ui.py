"""The UI shell's public helpers for every app.

* The reusable sign dialog: it shows what is signed and with what meaning, and asks for the
  password. Any flow renders it with its own summary and posts back to its own action.
* Navigation and home-page panels: each app declares them on its AppConfig
  (``nav = [("Label", "url-name", "app.permission" or None), ...]`` and
  ``home_panels = ["app.module.function", ...]`` where the function takes the request and
  returns ``(template_name, context)`` or None), so no app edits the kernel's templates.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render


def render_sign_dialog(request, *, title: str, summary: list[tuple[str, str]], meaning: str,
                       form, sign_form, action: str, error=None):
    """Render the dialog (as an htmx fragment, or inside a full page without JavaScript)."""
    from mes.models import Meaning

    context = {
        "title": title, "summary": summary, "meaning": Meaning(meaning).label,
        "form": form, "sign_form": sign_form, "action": action, "error": error,
        "signer": request.user,
    }
    template = "mes/sign_dialog.html" if request.htmx else "mes/sign_page.html"
    status = getattr(error, "status", 200) if error else 200
    return render(request, template, context, status=status if status < 500 else 400)


def add_domain_error(form, error) -> None:
    """Show a DomainError on a form: its message at the top, its field errors by the fields."""
    form.add_error(None, error.message)
    for field, errors in error.fields.items():
        for message in errors:
            form.add_error(field if field in form.fields else None, message)


def signed_response(request, next_url: str):
    """After a successful signature: htmx follows HX-Redirect, plain forms a redirect."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = next_url
        return response
    return redirect(next_url)


def app_navigation(user) -> list[tuple[str, str]]:
    """(label, url) pairs of every app's navigation entries this user may use."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    from mes.apps import OUR_APPS

    entries = []
    for label in OUR_APPS[1:]:
        config = apps.get_app_config(label)
        for text, url_name, permission in getattr(config, "nav", []):
            if permission and not user.has_perm(permission):
                continue
            try:
                entries.append((text, reverse(url_name)))
            except NoReverseMatch:
                continue
    return entries


def app_badges(user) -> list[str]:
    """URLs of the live badges apps show in the top bar (``nav_badges`` on the AppConfig:
    ``[("app:url-name", "app.permission" or None)]``), polled in the background."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    from mes.apps import OUR_APPS

    urls = []
    for label in OUR_APPS[1:]:
        for url_name, permission in getattr(apps.get_app_config(label), "nav_badges", []):
            if permission and not user.has_perm(permission):
                continue
            try:
                urls.append(reverse(url_name))
            except NoReverseMatch:
                continue
    return urls


def home_panels(request) -> list[tuple[str, dict]]:
    """Each app's panels for the home page, in layer order."""
    from django.apps import apps
    from django.utils.module_loading import import_string

    from mes.apps import OUR_APPS

    panels = []
    for label in OUR_APPS[1:]:
        for path in getattr(apps.get_app_config(label), "home_panels", []):
            panel = import_string(path)(request)
            if panel is not None:
                panels.append(panel)
    return panels
