"""The UI shell's public helpers for every app.

* The reusable sign dialog: it shows what is signed and with what meaning, and asks for the
  password. Any flow renders it with its own summary and posts back to its own action.
* Navigation and home-page panels: each app declares them on its AppConfig
  (``nav_group = "Label"`` over ``nav = [("Label", "url-name", "app.permission" or None), ...]``,
  which the top bar shows as one top-level item, ``header_actions`` per role, and
  ``home_panels = ["app.module.function", ...]`` where the function takes the request and
  returns ``(template_name, context)`` or None, and ``work_panels`` of the same shape for what
  the person has to do now, shown first), so no app edits the kernel's templates.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import redirect, render


def render_sign_dialog(
    request,
    *,
    title: str,
    summary: list[tuple[str, str]],
    meaning: str,
    form,
    sign_form,
    action: str,
    error=None,
):
    """Render the dialog (as an htmx fragment, or inside a full page without JavaScript)."""
    from mes.models import Meaning

    context = {
        "title": title,
        "summary": summary,
        "meaning": Meaning(meaning).label,
        "form": form,
        "sign_form": sign_form,
        "action": action,
        "error": error,
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


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str


@dataclass(frozen=True)
class NavGroup:
    """A top-level item: a group of links (a disclosure menu), or one link when it holds one."""

    label: str
    links: tuple[NavLink, ...]

    @property
    def single(self) -> NavLink | None:
        return self.links[0] if len(self.links) == 1 else None


def _resolve(url_name: str) -> str | None:
    """``"app:name"`` or ``"app:name?query"`` as a URL, or None when it does not resolve."""
    from django.urls import NoReverseMatch, reverse

    name, _, query = url_name.partition("?")
    try:
        url = reverse(name)
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def app_navigation(user) -> list[NavGroup]:
    """The top-level navigation this user may use: one group per app (its AppConfig's
    ``nav_group`` label over its ``nav`` entries), in layer order, the kernel's last; apps
    that name the same group share it (scheduling and batch records are "Production"); a
    group with nothing the user may open is left out."""
    from django.apps import apps

    from mes.apps import OUR_APPS

    groups = []
    for label in (*OUR_APPS[1:], OUR_APPS[0]):
        config = apps.get_app_config(label)
        links = []
        for text, url_name, permission in getattr(config, "nav", []):
            if permission and not user.has_perm(permission):
                continue
            if (url := _resolve(url_name)) is not None:
                links.append(NavLink(text, url))
        if links:
            # Without a nav_group: the app name up to any colon ("Scheduling: ...").
            label = getattr(config, "nav_group", None) or config.verbose_name.split(":")[0]
            same = next((i for i, group in enumerate(groups) if group.label == label), None)
            if same is None:
                groups.append(NavGroup(label, tuple(links)))
            else:
                groups[same] = NavGroup(label, (*groups[same].links, *links))
    return groups


MAX_HEADER_ACTIONS = 2


def header_actions(user) -> list[NavLink]:
    """The one or two things the user's roles do most, as buttons in the header. Each app
    declares them per role (``header_actions = {"Role": [("Label", "url-name", perm)]}``);
    the highest layer comes first (an operator's scan before raising a deviation)."""
    from django.apps import apps

    from mes.apps import OUR_APPS

    roles = set(user.role_names())
    actions: list[NavLink] = []
    for label in reversed(OUR_APPS):
        declared = getattr(apps.get_app_config(label), "header_actions", {})
        for role in sorted(roles & set(declared)):
            for text, url_name, permission in declared[role]:
                if permission and not user.has_perm(permission):
                    continue
                url = _resolve(url_name)
                if url is not None and all(a.url != url for a in actions):
                    actions.append(NavLink(text, url))
    return actions[:MAX_HEADER_ACTIONS]


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
    """Each app's panels for the home page: first every app's ``work_panels`` (what this
    person has to do now, UI.md), then its ``home_panels``, each in layer order."""
    from django.apps import apps
    from django.utils.module_loading import import_string

    from mes.apps import OUR_APPS

    configs = [apps.get_app_config(label) for label in OUR_APPS[1:]]
    panels = []
    for kind in ("work_panels", "home_panels"):
        for config in configs:
            for path in getattr(config, kind, []):
                panel = import_string(path)(request)
                if panel is not None:
                    panels.append(panel)
    return panels
