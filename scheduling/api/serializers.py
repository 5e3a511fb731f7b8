"""The scheduling API's serializers: thin shapes of the records and of the requests."""

from __future__ import annotations

from rest_framework import serializers

from scheduling import selectors
from scheduling.models import Booking, Equipment, LogbookEntry, Suite, SuiteHold

MAX_ID = 2**53


# --- serializers ---------------------------------------------------------------------------
GRADES = "Cleanroom grade: A, B, C or D (EU GMP Annex 1)."
KINDS = "One of: " + ", ".join(LogbookEntry.Kind.values) + "."


class SuiteSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    grade = serializers.CharField(read_only=True, help_text=GRADES)
    available_now = serializers.SerializerMethodField()

    class Meta:
        model = Suite
        fields = [
            "id",
            "site",
            "code",
            "name",
            "grade",
            "status",
            "batch_capacity",
            "available_now",
        ]

    def get_available_now(self, suite) -> bool:
        unavailable = self.context.get("unavailable")
        if unavailable is None:
            return selectors.suite_is_available(suite)
        return suite.pk not in unavailable


class EquipmentSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    suite = serializers.CharField(source="suite.code", read_only=True)
    equipment_type = serializers.CharField(source="equipment_type.code", read_only=True)
    cleaning_status = serializers.SerializerMethodField()

    class Meta:
        model = Equipment
        fields = [
            "id",
            "site",
            "suite",
            "equipment_type",
            "identifier",
            "name",
            "status",
            "calibration_due",
            "cleaning_status",
            "clean_until",
        ]

    def get_cleaning_status(self, equipment) -> str:
        return equipment.cleaning_status_at()


class LogbookEntrySerializer(serializers.ModelSerializer):
    suite = serializers.CharField(source="suite.code", read_only=True)
    kind = serializers.CharField(read_only=True, help_text=KINDS)
    equipment = serializers.CharField(
        source="equipment.identifier", default=None, allow_null=True, read_only=True
    )
    recorded_by = serializers.CharField(source="recorded_by.full_name", read_only=True)
    signed_by = serializers.SerializerMethodField()

    class Meta:
        model = LogbookEntry
        fields = [
            "id",
            "suite",
            "equipment",
            "kind",
            "occurred_at",
            "recorded_at",
            "recorded_by",
            "text",
            "from_status",
            "to_status",
            "batch_number",
            "patient_coi",
            "releases",
            "signed_by",
        ]

    def get_signed_by(self, entry) -> list[str]:
        return [f"{s.printed_name} ({s.meaning})" for s in entry.signatures.all()]


class LogbookWriteSerializer(serializers.Serializer):
    equipment = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None
    )
    suite = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="For the room logbook (no equipment): a suite's cleaning, maintenance or "
        "status change",
    )
    kind = serializers.CharField(max_length=16, help_text=KINDS)
    text = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        allow_blank=True,
        help_text="What was done, or the reason",
    )
    batch_number = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )
    patient_coi = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    clean_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    next_due = serializers.DateField(required=False, allow_null=True, default=None)
    status = serializers.CharField(
        max_length=32, required=False, default="", allow_blank=True, help_text="For a status change"
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text="For entries that release (signed)",
    )

    def validate_kind(self, value: str) -> str:
        if value not in LogbookEntry.Kind.values:
            raise serializers.ValidationError(KINDS)
        return value


class ProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    date = serializers.DateField(allow_null=True)


class FeasibilitySerializer(serializers.Serializer):
    suite = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    collection_date = serializers.DateField()
    planned_receipt = serializers.DateField()
    predicted_release = serializers.DateField()
    target_release = serializers.DateField()
    feasible = serializers.BooleanField()
    problems = ProblemSerializer(many=True)


class BookingSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    suite = serializers.CharField(source="suite.code", read_only=True)
    patient_coi = serializers.CharField(source="order.patient.coi", read_only=True)
    product = serializers.CharField(source="order.patient.product.code", read_only=True)
    booked_by = serializers.CharField(source="booked_by.full_name", read_only=True)
    confirmed_by = serializers.CharField(
        source="confirmed_by.full_name", default=None, allow_null=True, read_only=True
    )
    confirmed_problems = ProblemSerializer(many=True, read_only=True)

    class Meta:
        model = Booking
        fields = [
            "id",
            "site",
            "order",
            "patient_coi",
            "product",
            "suite",
            "lane",
            "start_date",
            "end_date",
            "status",
            "booked_by",
            "booked_at",
            "confirmed_by",
            "confirmed_at",
            "confirmed_problems",
            "cancel_reason",
        ]


class BookingRequestSerializer(serializers.Serializer):
    order = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    suite = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    start_date = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: planned receipt plus the product's start offset",
    )
    reason = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class MoveSerializer(serializers.Serializer):
    suite = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, allow_null=True, default=None
    )
    start_date = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ConfirmSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        default="",
        allow_blank=True,
        help_text="Required when the booking has problems",
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text="The Supervisor's signature, when the booking has problems",
    )


class SignedReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    password = serializers.CharField(
        write_only=True,
        required=False,
        default="",
        allow_blank=True,
        trim_whitespace=False,
        help_text="The signer's password",
    )


class PredictionSerializer(serializers.Serializer):
    order = serializers.IntegerField(source="order.pk")
    patient_coi = serializers.CharField(source="order.patient.coi")
    basis = serializers.ChoiceField(choices=["booking", "plan"])
    booking = serializers.IntegerField(source="booking.pk", default=None, allow_null=True)
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    predicted_release = serializers.DateField()
    target_release = serializers.DateField()
    on_target = serializers.BooleanField()


class ProposalSerializer(serializers.Serializer):
    order = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    suite = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    start_date = serializers.DateField(required=False, allow_null=True, default=None)


class SuiteHoldSerializer(serializers.ModelSerializer):
    suite = serializers.CharField(source="suite.code", read_only=True)
    kind = serializers.CharField(read_only=True, help_text="maintenance or hold")
    placed_by = serializers.CharField(source="placed_by.full_name", read_only=True)

    class Meta:
        model = SuiteHold
        fields = ["id", "suite", "kind", "starts_at", "ends_at", "reason", "placed_by", "status"]


class MaintenanceRequestSerializer(serializers.Serializer):
    suite = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000)
