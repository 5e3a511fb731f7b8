from django.urls import include, path
from rest_framework.routers import DefaultRouter

from batchrecords import api, api_batches

router = DefaultRouter()
router.register("master-records", api.MasterRecordViewSet, basename="api-batchrecords-master")
router.register("versions", api.VersionViewSet, basename="api-batchrecords-version")
router.register("batches", api_batches.BatchViewSet, basename="api-batchrecords-batch")

urlpatterns = [
    path("", include(router.urls)),
    path("imports/", api.ImportView.as_view(), name="api-batchrecords-import"),
    path("schema/", api.SchemaView.as_view(), name="api-batchrecords-schema"),
]
