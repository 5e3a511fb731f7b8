from rest_framework.routers import DefaultRouter

from custody import api

router = DefaultRouter()
router.register("orders", api.OrderViewSet, basename="api-custody-order")
router.register("patients", api.PatientViewSet, basename="api-custody-patient")
router.register("custody-events", api.CustodyEventViewSet, basename="api-custody-event")
router.register("shipments", api.ShipmentViewSet, basename="api-custody-shipment")

urlpatterns = router.urls
