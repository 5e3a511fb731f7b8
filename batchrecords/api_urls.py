from django.urls import include, path
from rest_framework.routers import DefaultRouter

from batchrecords import api

router = DefaultRouter()
router.register("master-records", api.MasterRecordViewSet, basename="api-batchrecords-master")
router.register("versions", api.VersionViewSet, basename="api-batchrecords-version")

urlpatterns = [
    path("", include(router.urls)),
    path("imports/", api.ImportView.as_view(), name="api-batchrecords-import"),
    path("schema/", api.SchemaView.as_view(), name="api-batchrecords-schema"),
]
