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
    nav = [("Master batch records", "batchrecords:master-list", "batchrecords.view_masterrecord"),
           ("Batches", "batchrecords:batch-list", "batchrecords.view_batch")]
    work_panels = ["batchrecords.panels.batches_to_work"]  # shown before every other panel
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
        from batchrecords.sections import patient_batches
        from custody.sections import register_patient_section
        from custody.signals import material_received
        from scheduling.signals import booking_confirmed_with_problems

        material_received.connect(_open_batch, dispatch_uid="batchrecords-open-on-receipt")
        booking_confirmed_with_problems.connect(
            _confirmed_problems, dispatch_uid="batchrecords-feasibility-exceptions")
        # The patient's page and chain report list the patient's batches.
        register_patient_section(patient_batches)


def _open_batch(sender, *, patient, event, actor, **kwargs) -> None:
    """The apheresis material is received: the patient's batch record opens, in the
    receipt's transaction."""
    from batchrecords.services.batches import open_on_receipt

    open_on_receipt(actor=actor, patient=patient)


def _confirmed_problems(sender, *, booking, confirmation, actor, **kwargs) -> None:
    """A Supervisor confirmed the booking of a batch despite problems: each becomes one of
    the batch's exceptions, in the confirmation's transaction."""
    from batchrecords.services.feasibility import on_confirmation

    on_confirmation(booking=booking, confirmation=confirmation)
