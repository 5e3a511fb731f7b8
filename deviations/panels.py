"""Home-page panel: the deviations that need this person now."""

from __future__ import annotations

from deviations import selectors


def deviations_panel(request):
    user = request.user
    if user.has_perm("deviations.view_board"):
        rows = list(selectors.board(user)[:5])
        return "deviations/_panel.html", {"title": "Deviations needing action", "rows": rows,
                                          "board": True}
    if user.has_perm("deviations.raise_deviation"):
        rows = list(selectors.raised_by(user)[:5])
        return "deviations/_panel.html", {"title": "Deviations you raised", "rows": rows,
                                          "board": False}
    return None
