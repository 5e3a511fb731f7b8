from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from mes.api import views
from mes.api.schema import CachedSchemaView

router = DefaultRouter()
router.register("users", views.UserViewSet, basename="api-user")
router.register("sites", views.SiteViewSet, basename="api-site")
router.register("signatures", views.SignatureViewSet, basename="api-signature")

urlpatterns = [
    path("", include(router.urls)),
    path("audit-trail/<str:app_label>/<str:model_name>/<int:pk>/",
         views.AuditTrailView.as_view(), name="api-audit-trail"),
    path("schema/", CachedSchemaView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: our CSP refuses inline scripts.
    # Both describe what an attacker would probe first: signed-in people only.
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
         name="api-docs"),
]
