"""What scheduling needs to know about a product's process: how long it takes, when it can
start after the collected material arrives, who and what it needs on each day, and the QC
release time that, with the manufacturing end, gives the predicted release date."""

from __future__ import annotations

import datetime as dt

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from mes.models import GMPModel
from scheduling.models.resources import EquipmentType

QUANTITY = {"max_digits": 12, "decimal_places": 3}


class ProcessPlan(GMPModel):
    """The scheduling view of one product's (custody.Product) manufacturing process."""

    product = models.OneToOneField(
        "custody.Product", on_delete=models.PROTECT, related_name="process_plan"
    )
    duration_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    receipt_days_after_collection = models.PositiveSmallIntegerField(
        default=1, help_text="Days from collection to the planned receipt at the plant."
    )
    start_offset_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days after the planned receipt that manufacturing starts."
    )
    qc_release_days = models.PositiveSmallIntegerField(
        "QC release days",
        help_text="Days after manufacturing ends until QC release (e.g. 14 for sterility).",
    )
    target_vein_to_vein_days = models.PositiveSmallIntegerField(
        help_text="Target days from collection to release for the treating site."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_days__gte=1), name="scheduling_plan_duration_positive"
            )
        ]

    def __str__(self) -> str:
        return f"Process plan of {self.product_id}"

    def planned_receipt(self, collection: dt.date) -> dt.date:
        return collection + dt.timedelta(days=self.receipt_days_after_collection)

    def earliest_start(self, collection: dt.date) -> dt.date:
        return self.planned_receipt(collection) + dt.timedelta(days=self.start_offset_days)

    def end_for(self, start: dt.date) -> dt.date:
        """The last manufacturing day (inclusive) of a run starting on ``start``."""
        return start + dt.timedelta(days=self.duration_days - 1)


class ProcessStaffing(GMPModel):
    """On process day ``day`` (1 = the first), ``operators`` rostered people certified for
    ``qualification`` are needed."""

    plan = models.ForeignKey(ProcessPlan, on_delete=models.PROTECT, related_name="staffing")
    day = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    qualification = models.ForeignKey(
        "training.Qualification", on_delete=models.PROTECT, related_name="+"
    )
    operators = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["plan", "day", "qualification__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "day", "qualification"], name="scheduling_staffing_once"
            ),
            models.CheckConstraint(
                condition=Q(day__gte=1) & Q(operators__gte=1), name="scheduling_staffing_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"day {self.day}: {self.operators} × {self.qualification_id}"


class ProcessEquipment(GMPModel):
    """The process needs ``quantity`` pieces of an equipment type in the suite."""

    plan = models.ForeignKey(ProcessPlan, on_delete=models.PROTECT, related_name="equipment")
    equipment_type = models.ForeignKey(EquipmentType, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["plan", "equipment_type__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "equipment_type"], name="scheduling_plan_equipment_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.equipment_type_id}"


class ProcessMaterial(GMPModel):
    """The process uses ``quantity`` (in the material's unit) of a reagent per batch."""

    plan = models.ForeignKey(ProcessPlan, on_delete=models.PROTECT, related_name="materials")
    material = models.ForeignKey("reagents.Material", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QUANTITY)

    class Meta:
        ordering = ["plan", "material__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "material"], name="scheduling_plan_material_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="scheduling_plan_material_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.material_id}"
