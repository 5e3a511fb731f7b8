from django.conf import settings


def shell(request):
    """What the page shell needs: the user's roles for navigation, the idle limit."""
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    roles = user.role_names() if authenticated else []
    from mes.ui import app_badges, app_navigation

    return {
        "user_roles": roles,
        "app_nav": app_navigation(user) if authenticated else [],
        "app_badges": app_badges(user) if authenticated else [],
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
        "background_header": settings.BACKGROUND_REQUEST_HEADER,
    }
