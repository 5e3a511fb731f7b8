from django.apps import AppConfig

_VIEW = ["custody.view_patient", "custody.view_order", "custody.view_custodyevent",
         "custody.view_shipment", "custody.view_temperaturereading"]


class CustodyConfig(AppConfig):
    name = "custody"
    verbose_name = "Chain of identity and custody"
    default_auto_field = "django.db.models.BigAutoField"

    nav_group = "Custody"
    _SCAN = ("Scan", "custody:scan", "custody.add_custodyevent")
    header_actions = {
        "Operator": [_SCAN], "Supervisor": [_SCAN],
        "Planner": [("New order", "custody:order-create", "custody.add_order"),
                    ("Patients", "custody:patient-list", "custody.view_patient")],
    }
    nav = [
        ("Patients", "custody:patient-list", "custody.view_patient"),
        ("Scan", "custody:scan", "custody.add_custodyevent"),
        ("Shipments", "custody:shipment-list", "custody.view_shipment"),
    ]
    work_panels = ["custody.panels.work_waiting"]  # shown before every other panel
    home_panels = ["custody.panels.custody_panel"]
    # The clinical identity is seen only by QA (investigating a mix-up); every view is logged.
    role_permissions = {
        "Operator": [*_VIEW, "custody.add_custodyevent", "custody.add_shipment",
                     "custody.add_temperaturereading"],
        "Supervisor": [*_VIEW, "custody.add_custodyevent", "custody.add_shipment",
                       "custody.add_temperaturereading", "custody.change_order"],
        "QA Reviewer": [*_VIEW, "custody.reveal_clinical_identity"],
        "Qualified Person": [*_VIEW, "custody.change_order"],
        "Planner": [*_VIEW, "custody.add_order", "custody.change_order"],
        "Trainer": [],
        "Administrator": [],
    }

    def ready(self):
        from custody.models import ClinicalIdentity
        from custody.services.identity_history import reveal_identity_history
        from mes import audit_trail

        audit_trail.register_restricted(
            ClinicalIdentity, reveal_identity_history,
            sites=lambda identity: [identity.patient.site, identity.patient.treating_site])
