from django.apps import AppConfig

_READ = [
    "batchrecords.view_masterrecord",
    "batchrecords.view_masterrecordversion",
    "batchrecords.view_batch",
]
_EXECUTE = ["batchrecords.perform_step", "batchrecords.verify_step"]
_AUTHOR = ["batchrecords.add_masterrecordversion", "batchrecords.change_masterrecordversion"]


class BatchrecordsConfig(AppConfig):
    name = "batchrecords"
    verbose_name = "Batch records"
    default_auto_field = "django.db.models.BigAutoField"

    # One top-level "Production" group with scheduling's suites (UI.md: seven items a role).
    nav_group = "Production"
    nav = [("Master batch records", "batchrecords:master-list", "batchrecords.view_masterrecord")]
    home_panels = ["batchrecords.panels.master_records_panel"]
    # Supervisors author master records; QA reviews, approves (never their own) and retires.
    role_permissions = {
        "Operator": [*_READ, *_EXECUTE],
        "Supervisor": [
            *_READ,
            *_AUTHOR,
            *_EXECUTE,
            "batchrecords.supervise_batch",
            "batchrecords.add_batch",
            "batchrecords.change_batch",
        ],
        "QA Reviewer": [
            *_READ,
            *_AUTHOR,
            "batchrecords.approve_masterrecordversion",
            "batchrecords.retire_masterrecordversion",
            "batchrecords.add_batch",
            "batchrecords.change_batch",
        ],
        "Qualified Person": [*_READ],
        "Planner": [*_READ],
        "Trainer": [],
        "Administrator": [],
    }

    def ready(self) -> None:
        from custody.signals import material_received

        material_received.connect(_open_batch, dispatch_uid="batchrecords-open-on-receipt")


def _open_batch(sender, *, patient, event, actor, **kwargs) -> None:
    """The apheresis material is received: the patient's batch record opens, in the
    receipt's transaction."""
    from batchrecords.services.batches import open_on_receipt

    open_on_receipt(actor=actor, patient=patient)
