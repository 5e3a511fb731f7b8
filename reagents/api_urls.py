from django.urls import include, path
from rest_framework.routers import DefaultRouter

from reagents import api

router = DefaultRouter()
router.register("materials", api.MaterialViewSet, basename="api-reagents-material")
router.register("lots", api.LotViewSet, basename="api-reagents-lot")

urlpatterns = [
    path("", include(router.urls)),
    path("genealogy/", api.BatchGenealogyView.as_view(), name="api-reagents-genealogy"),
]
