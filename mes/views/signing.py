"""The reusable sign dialog: it shows what is signed and with what meaning, and asks for
the password. Any flow renders it with its own summary and posts back to its own action."""

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


def signed_response(request, next_url: str):
    """After a successful signature: htmx follows HX-Redirect, plain forms a redirect."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = next_url
        return response
    return redirect(next_url)
