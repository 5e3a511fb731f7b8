from django.conf import settings


def shell(request):
    """What the page shell needs: the user's roles for navigation, the idle limit."""
    user = getattr(request, "user", None)
    roles = user.role_names() if user is not None and user.is_authenticated else []
    return {
        "user_roles": roles,
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
        "background_header": settings.BACKGROUND_REQUEST_HEADER,
    }
