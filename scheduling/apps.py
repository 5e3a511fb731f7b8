from django.apps import AppConfig

_VIEW = [
    "scheduling.view_suite",
    "scheduling.view_equipment",
    "scheduling.view_equipmenttype",
    "scheduling.view_logbookentry",
    "scheduling.view_shift",
    "scheduling.view_rosterentry",
    "scheduling.view_booking",
    "scheduling.view_processplan",
    "scheduling.view_suitehold",
]
_PLAN = [
    "scheduling.add_booking",
    "scheduling.change_booking",
    "scheduling.add_rosterentry",
    "scheduling.change_rosterentry",
]


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling: suites, equipment, rosters and bookings"
    default_auto_field = "django.db.models.BigAutoField"

    # The planner's and supervisor's entry (QA and the QP reach suites from their records).
    nav_group = "Production"
    nav = [("Suites", "scheduling:suite-list", "scheduling.change_booking")]

    role_permissions = {
        "Operator": [*_VIEW, "scheduling.add_logbookentry"],
        "Supervisor": [
            *_VIEW,
            *_PLAN,
            "scheduling.add_logbookentry",
            "scheduling.release_equipment",
            "scheduling.change_suite_status",
            "scheduling.add_suitehold",
            "scheduling.confirm_booking_with_problems",
            "scheduling.add_terminal",
            "scheduling.change_terminal",
        ],
        "QA Reviewer": [*_VIEW, "scheduling.release_equipment", "scheduling.change_suite_status"],
        "Qualified Person": list(_VIEW),
        "Planner": [*_VIEW, *_PLAN, "scheduling.add_suitehold"],
        "Trainer": [],
        "Administrator": [
            *_VIEW,
            "scheduling.add_suite",
            "scheduling.add_equipmenttype",
            "scheduling.add_equipment",
            "scheduling.add_shift",
            "scheduling.add_processplan",
        ],
    }

    def ready(self) -> None:
        from custody.sections import register_order_facts, register_patient_section
        from custody.signals import order_cancelled, order_entered_manufacturing
        from scheduling.sections import order_predictions, patient_prediction

        register_patient_section(patient_prediction)
        register_order_facts(order_predictions)

        order_cancelled.connect(_free_booking, dispatch_uid="scheduling-free-booking")
        order_entered_manufacturing.connect(
            _release_reagents, dispatch_uid="scheduling-release-reagents"
        )


def _free_booking(sender, *, order, actor, reason, **kwargs) -> None:
    """A cancelled order frees its booking, in the cancellation's transaction."""
    from scheduling.services.bookings import free_booking_of_cancelled_order

    free_booking_of_cancelled_order(order=order, actor=actor, reason=reason)


def _release_reagents(sender, *, order, actor, reason, **kwargs) -> None:
    """An order in manufacturing draws its reagents at the point of use: its booking's
    reservations are released, in the same transaction."""
    from scheduling.services.bookings import release_reservations_of_order_in_manufacturing

    release_reservations_of_order_in_manufacturing(order=order, actor=actor, reason=reason)
