from scheduling.models.bookings import (
    ACTIVE_BOOKING,
    Booking,
    BookingConfirmation,
    BookingStatus,
    ReagentReservation,
)
from scheduling.models.plans import (
    ProcessEquipment,
    ProcessMaterial,
    ProcessPlan,
    ProcessStaffing,
)
from scheduling.models.resources import (
    Equipment,
    EquipmentType,
    LogbookEntry,
    RosterEntry,
    Shift,
    Suite,
    SuiteHold,
    TransitionRefused,
    check_transition,
)
from scheduling.models.terminals import Terminal

__all__ = [
    "Terminal",
    "ACTIVE_BOOKING",
    "Booking",
    "BookingConfirmation",
    "BookingStatus",
    "Equipment",
    "EquipmentType",
    "LogbookEntry",
    "ProcessEquipment",
    "ProcessMaterial",
    "ProcessPlan",
    "ProcessStaffing",
    "ReagentReservation",
    "RosterEntry",
    "Shift",
    "Suite",
    "SuiteHold",
    "TransitionRefused",
    "check_transition",
]
