from django.apps import AppConfig

_READ = ["batchrecords.view_masterrecord", "batchrecords.view_masterrecordversion"]
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
        "Operator": [*_READ],
        "Supervisor": [*_READ, *_AUTHOR],
        "QA Reviewer": [
            *_READ,
            *_AUTHOR,
            "batchrecords.approve_masterrecordversion",
            "batchrecords.retire_masterrecordversion",
        ],
        "Qualified Person": [*_READ],
        "Planner": [*_READ],
        "Trainer": [],
        "Administrator": [],
    }
