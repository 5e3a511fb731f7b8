"""Root URLs. Each app of ours that has a ``urls`` module is mounted at ``/<app>/`` and its
``api_urls`` (if any) at ``/api/v1/<app>/``, so a new app never edits the kernel."""

from importlib.util import find_spec

from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from mes.apps import OUR_APPS
from mes.views import audit, notifications, shell, sites, users

handler400 = "mes.api.errors.json_bad_request"
handler403 = "mes.api.errors.json_permission_denied"
handler404 = "mes.api.errors.json_not_found"
handler500 = "mes.api.errors.json_server_error"

urlpatterns = [
    path("", shell.home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("login/", shell.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", shell.health, name="health"),
    path("security/", shell.security_events, name="security-events"),
    path("security/integrity-check/", shell.integrity_check, name="integrity-check"),
    path("people/", users.user_list, name="user-list"),
    path("people/new/", users.user_create, name="user-create"),
    path("people/<int:pk>/", users.user_detail, name="user-detail"),
    path("people/<int:pk>/access/", users.access_change, name="user-access"),
    path("people/<int:pk>/active/", users.user_set_active, name="user-set-active"),
    path("people/<int:pk>/unlock/", users.user_unlock, name="user-unlock"),
    path("sites/", sites.site_list, name="site-list"),
    path("sites/new/", sites.site_create, name="site-create"),
    path("sites/<int:pk>/", sites.site_edit, name="site-edit"),
    path("inbox/", notifications.inbox, name="inbox"),
    path("inbox/read/", notifications.mark_read, name="inbox-read"),
    path("inbox/badge/", notifications.unread_badge, name="inbox-badge"),
    path("audit/<str:app_label>/<str:model_name>/<int:pk>/", audit.record_audit_trail,
         name="audit-trail"),
    path("api/v1/", include("mes.api.urls")),
]

for app in OUR_APPS[1:]:
    if find_spec(app) and find_spec(f"{app}.urls"):
        urlpatterns.append(path(f"{app}/", include(f"{app}.urls")))
    if find_spec(app) and find_spec(f"{app}.api_urls"):
        urlpatterns.append(path(f"api/v1/{app}/", include(f"{app}.api_urls")))
