"""Scheduling API (see views.py)."""

from scheduling.api.logbook import LogbookViewSet, SuiteHoldViewSet
from scheduling.api.views import (
    BookingViewSet,
    EquipmentViewSet,
    FeasibilityView,
    PredictionView,
    SuiteViewSet,
)

__all__ = [
    "BookingViewSet",
    "EquipmentViewSet",
    "FeasibilityView",
    "LogbookViewSet",
    "PredictionView",
    "SuiteHoldViewSet",
    "SuiteViewSet",
]
