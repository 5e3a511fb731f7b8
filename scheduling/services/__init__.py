"""Scheduling's writes; views, the API, tasks and other apps call only these.

Batch execution calls :func:`record_use` when a step uses equipment.
"""

from scheduling.services.bookings import book, cancel, complete, confirm, move
from scheduling.services.common import SchedulingRefused
from scheduling.services.logbook import (
    change_equipment_status,
    change_suite_status,
    finish_use,
    lift_hold,
    record_calibration,
    record_cleaning,
    record_maintenance,
    record_suite_cleaning,
    record_suite_maintenance,
    record_use,
)
from scheduling.services.resources import (
    create_equipment_type,
    create_shift,
    create_suite,
    define_process_plan,
    plan_maintenance,
    register_equipment,
    roster,
    withdraw_from_roster,
)

__all__ = [
    "SchedulingRefused",
    "book",
    "cancel",
    "change_equipment_status",
    "change_suite_status",
    "complete",
    "confirm",
    "create_equipment_type",
    "create_shift",
    "create_suite",
    "define_process_plan",
    "finish_use",
    "lift_hold",
    "move",
    "plan_maintenance",
    "record_calibration",
    "record_cleaning",
    "record_maintenance",
    "record_suite_cleaning",
    "record_suite_maintenance",
    "record_use",
    "register_equipment",
    "roster",
    "withdraw_from_roster",
]
