from django.urls import include, path
from rest_framework.routers import DefaultRouter

from training import api

router = DefaultRouter()
router.register("certifications", api.CertificationViewSet, basename="api-certification")
router.register("training-records", api.TrainingRecordViewSet, basename="api-training-record")

urlpatterns = [
    path("", include(router.urls)),
    path("gate/", api.GateView.as_view(), name="api-training-gate"),
]
