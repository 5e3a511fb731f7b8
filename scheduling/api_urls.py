from django.urls import include, path
from rest_framework.routers import DefaultRouter

from scheduling import api

router = DefaultRouter()
router.register("suites", api.SuiteViewSet, basename="api-scheduling-suite")
router.register("equipment", api.EquipmentViewSet, basename="api-scheduling-equipment")
router.register("logbook", api.LogbookViewSet, basename="api-scheduling-logbook")
router.register("bookings", api.BookingViewSet, basename="api-scheduling-booking")
router.register("holds", api.SuiteHoldViewSet, basename="api-scheduling-hold")

urlpatterns = [
    path("", include(router.urls)),
    path("feasibility/", api.FeasibilityView.as_view(), name="api-scheduling-feasibility"),
    path(
        "orders/<int:order_id>/prediction/",
        api.PredictionView.as_view(),
        name="api-scheduling-prediction",
    ),
]
