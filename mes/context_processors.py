from django.conf import settings


def _shell_for(request, user) -> dict:
    """The navigation, header actions and badges, computed once per request (a page that
    renders several templates, or a fragment inside a page, does not recompute them)."""
    cached = getattr(request, "_mes_shell", None)
    if cached is None:
        from mes.ui import app_badges, app_navigation, header_actions

        cached = {
            "app_nav": app_navigation(user),
            "header_actions": header_actions(user),
            "app_badges": app_badges(user),
        }
        if request is not None:
            request._mes_shell = cached
    return cached


def shell(request):
    """What the page shell needs: the user's roles for navigation, the idle limit."""
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    roles = user.role_names() if authenticated else []
    empty = {"app_nav": [], "header_actions": [], "app_badges": []}
    return {
        "user_roles": roles,
        **(_shell_for(request, user) if authenticated else empty),
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
        "background_header": settings.BACKGROUND_REQUEST_HEADER,
    }
