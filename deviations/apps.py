from django.apps import AppConfig

_VIEW = ["deviations.view_deviation", "deviations.raise_deviation"]
_QA = [
    *_VIEW, "deviations.view_board", "deviations.acknowledge_deviation",
    "deviations.classify_deviation", "deviations.dispose_deviation",
    "deviations.investigate_deviation", "deviations.manage_capa",
    "deviations.close_deviation", "deviations.cancel_deviation",
    "deviations.configure_escalation", "deviations.view_deadlinepolicy",
    "deviations.view_escalationlevel",
]


class DeviationsConfig(AppConfig):
    name = "deviations"
    verbose_name = "Deviations"
    default_auto_field = "django.db.models.BigAutoField"

    nav_group = "Deviations"
    _BOARD = ("Deviation board", "deviations:board", "deviations.view_board")
    header_actions = {
        "Operator": [("Raise a deviation", "deviations:raise", "deviations.raise_deviation")],
        "Supervisor": [_BOARD], "QA Reviewer": [_BOARD], "Qualified Person": [_BOARD],
    }
    nav = [
        ("Deviation board", "deviations:board", "deviations.view_board"),
        ("My deviations", "deviations:mine", "deviations.raise_deviation"),
        ("Raise a deviation", "deviations:raise", "deviations.raise_deviation"),
        ("Deviation settings", "deviations:settings-index", "deviations.configure_escalation"),
    ]
    home_panels = ["deviations.panels.deviations_panel"]
    nav_badges = [("deviations:badge", "deviations.view_board")]

    # QA decides; the Qualified Person also acknowledges and disposes (but does not cancel);
    # supervisors investigate and run CAPA; everyone on the floor can raise.
    role_permissions = {
        "Operator": _VIEW,
        "Supervisor": [*_VIEW, "deviations.view_board", "deviations.investigate_deviation",
                       "deviations.manage_capa"],
        "QA Reviewer": _QA,
        "Qualified Person": [*_VIEW, "deviations.view_board",
                             "deviations.acknowledge_deviation",
                             "deviations.dispose_deviation"],
        "Planner": _VIEW,
        "Trainer": _VIEW,
        "Administrator": [],
    }

    def ready(self) -> None:
        from deviations.services.integrity import raise_integrity_deviations
        from mes.services.integrity import register_finding_handler

        register_finding_handler(raise_integrity_deviations)
