from django.urls import path

from custody.views import patients, scan, shipments

app_name = "custody"

urlpatterns = [
    path("", patients.patient_list, name="patient-list"),
    path("patients/<int:pk>/", patients.patient_detail, name="patient-detail"),
    path("patients/<int:pk>/report/", patients.chain_report, name="chain-report"),
    path("patients/<int:pk>/label.svg", patients.label, name="label"),
    path("patients/<int:pk>/label/", patients.label_sheet, name="label-sheet"),
    path("patients/<int:pk>/identity/", patients.clinical_identity, name="clinical-identity"),
    path("patients/<int:pk>/advance/", patients.order_advance, name="order-advance"),
    path("patients/<int:patient_pk>/ship/", shipments.shipment_create, name="shipment-create"),
    path("orders/new/", patients.order_create, name="order-create"),
    path("scan/", scan.scan, name="scan"),
    path("shipments/", shipments.shipment_list, name="shipment-list"),
    path("shipments/<int:pk>/", shipments.shipment_detail, name="shipment-detail"),
    path("shipments/<int:pk>/chart.svg", shipments.shipment_chart, name="shipment-chart"),
    path("shipments/<int:pk>/readings/", shipments.readings_upload, name="readings-upload"),
]
