"""The custody API: orders, patients (never the clinical identity), custody events,
shipments and temperature readings. Thin: scoped querysets, writes through services."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from custody import selectors
from custody.models import (
    ContainerType,
    CustodyEvent,
    Order,
    OrderStatusChange,
    Patient,
    Product,
    ReadingBatch,
    Shipment,
    TemperatureReading,
)
from custody.models.custody import EventKind
from custody.sections import order_facts
from custody.services import coldchain, orders
from custody.services.events import Handoff, record_custody_event
from mes.api.idempotency import idempotent
from mes.models import Site


class Allowed(permissions.BasePermission):
    """Each view names the permission reading needs and the one writing needs."""

    def has_permission(self, request, view):
        needed = view.read_permission if request.method in permissions.SAFE_METHODS \
            else getattr(view, "write_permissions", {}).get(view.action, view.write_permission)
        return bool(request.user and request.user.is_authenticated
                    and request.user.has_perm(needed))


class PatientSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.code")
    site = serializers.CharField(source="site.code")
    treating_site = serializers.CharField(source="treating_site.code")
    check_character = serializers.SerializerMethodField()
    barcode_data = serializers.SerializerMethodField()
    order_status = serializers.CharField(source="order.status", default=None)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "coi", "din", "din_flags", "check_character", "barcode_data",
                  "product", "site", "treating_site", "initials", "date_of_birth", "status",
                  "order_status"]

    def get_check_character(self, patient) -> str | None:
        return patient.isbt.check if patient.din else None

    def get_barcode_data(self, patient) -> str:
        return patient.isbt.barcode_data if patient.din else patient.coi


class TimelineSerializer(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.full_name")
    status = serializers.CharField(read_only=True)

    class Meta:
        model = OrderStatusChange
        fields = ["status", "changed_at", "changed_by", "reason"]


class OrderSerializer(serializers.ModelSerializer):
    patient = PatientSerializer()
    site = serializers.CharField(source="site.code")
    ordering_site = serializers.CharField(source="ordering_site.code")
    timeline = TimelineSerializer(many=True)
    status = serializers.CharField(read_only=True)
    facts = serializers.SerializerMethodField(
        help_text="What the plant knows of the order beyond custody, e.g. "
        "``predicted_release`` (the predicted and target release dates, from scheduling).")

    class Meta:
        model = Order
        fields = ["id", "patient", "site", "ordering_site", "ordered_at", "external_reference",
                  "planned_collection_date", "status", "cancel_reason", "timeline", "facts"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_facts(self, order) -> dict:
        known = self.context.get("order_facts")
        if known is None:  # a single order: its own facts
            known = order_facts([order])
        return known.get(order.pk, {})


def _by_code(model, field="code"):
    return serializers.SlugRelatedField(slug_field=field, queryset=model.objects.all())


class OrderRequestSerializer(serializers.Serializer):
    product = _by_code(Product)
    manufacturing_site = _by_code(Site)
    ordering_site = _by_code(Site)
    initials = serializers.CharField(max_length=8)
    date_of_birth = serializers.DateField()
    planned_collection_date = serializers.DateField()
    full_name = serializers.CharField(max_length=200, write_only=True)
    hospital_record_number = serializers.CharField(max_length=64, write_only=True)
    external_coi = serializers.CharField(max_length=64, required=False, default="")
    external_reference = serializers.CharField(max_length=64, required=False, default="")


class AdvanceSerializer(serializers.Serializer):
    status = serializers.CharField(
        max_length=24, help_text="The stage to record by hand: "
        + " or ".join(sorted(orders.MANUAL_STAGES)) + ". The other stages follow the custody "
        "events and the batch record; asking for one is refused (stage_not_manual).")
    reason = serializers.CharField(max_length=2000)


class OrderViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = OrderSerializer
    queryset = Order.objects.none()
    permission_classes = [Allowed]
    read_permission = "custody.view_order"
    write_permission = "custody.add_order"
    write_permissions = {"advance": "custody.change_order"}

    def get_serializer(self, *args, **kwargs):
        # A page of orders: each provider's facts for the whole page at once (no N+1).
        if kwargs.get("many") and args:
            args = (list(args[0]), *args[1:])
            kwargs["context"] = {**self.get_serializer_context(),
                                 "order_facts": order_facts(args[0])}
        return super().get_serializer(*args, **kwargs)

    def get_queryset(self):
        return (Order.objects.visible_to(self.request.user)
                .select_related("patient__product", "patient__site", "patient__treating_site",
                                "site", "ordering_site")
                .prefetch_related("timeline__changed_by").order_by("-ordered_at", "-pk"))

    @extend_schema(request=OrderRequestSerializer, responses={201: OrderSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = OrderRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = orders.place_order(actor=request.user,
                                   request=orders.OrderRequest(**incoming.validated_data))
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=AdvanceSerializer, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def advance(self, request, pk=None):
        incoming = AdvanceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = orders.advance_order(actor=request.user, order=self.get_object(),
                                     **incoming.validated_data)
        return Response(OrderSerializer(self.get_queryset().get(pk=order.pk)).data)


class PatientViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PatientSerializer
    queryset = Patient.objects.none()
    permission_classes = [Allowed]
    read_permission = "custody.view_patient"

    def get_queryset(self):
        return selectors.patients_for(self.request.user)


class CustodyEventSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code")
    performed_by = serializers.CharField(source="performed_by.full_name")
    patient_coi = serializers.CharField(source="patient.coi")
    shipment = serializers.CharField(source="shipment.reference", default=None, allow_null=True,
                                     read_only=True)
    kind = serializers.CharField(read_only=True)

    class Meta:
        model = CustodyEvent
        fields = ["id", "patient", "patient_coi", "site", "kind", "occurred_at", "recorded_at",
                  "performed_by", "container_id", "location", "position", "label_scan",
                  "shipment", "note"]


class HandoffSerializer(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    site = _by_code(Site)
    kind = serializers.CharField(max_length=32, help_text="One of " + ", ".join(EventKind.values))
    container_id = serializers.CharField(max_length=64)
    label_scan = serializers.CharField(max_length=100)
    occurred_at = serializers.DateTimeField(required=False, default=None)
    location = serializers.CharField(max_length=100, required=False, default="")
    position = serializers.CharField(max_length=50, required=False, default="")
    shipment = _by_code(Shipment, "reference")
    note = serializers.CharField(max_length=2000, required=False, default="")
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    reason = serializers.CharField(max_length=2000, required=False, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shipment"].required = False
        self.fields["shipment"].allow_null = True
        self.fields["shipment"].default = None


class CustodyEventViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = CustodyEventSerializer
    queryset = CustodyEvent.objects.none()
    permission_classes = [Allowed]
    read_permission = "custody.view_custodyevent"
    write_permission = "custody.add_custodyevent"

    def get_queryset(self):
        events = (CustodyEvent.objects.filter(
            patient__in=Patient.objects.visible_to(self.request.user))
            .select_related("site", "performed_by", "patient", "shipment")
            .order_by("occurred_at", "pk"))
        patient = self.request.query_params.get("patient")
        if patient and patient.isdecimal():  # isdigit() lets "²" through to int()
            events = events.filter(patient_id=int(patient))
        return events

    @extend_schema(request=HandoffSerializer, responses={201: CustodyEventSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = HandoffSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        if not Patient.objects.visible_to(request.user).filter(pk=data["patient"].pk).exists():
            raise Http404
        password, reason = data.pop("password"), data.pop("reason")
        event = record_custody_event(actor=request.user, password=password,
                                     handoff=Handoff(**data), reason=reason,
                                     request=request._request)
        return Response(CustodyEventSerializer(event).data, status=status.HTTP_201_CREATED)


class ShipmentSerializer(serializers.ModelSerializer):
    patient_coi = serializers.CharField(source="patient.coi")
    site = serializers.CharField(source="site.code")
    destination_site = serializers.CharField(source="destination_site.code")
    container_type = serializers.CharField(source="container_type.code")
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Shipment
        fields = ["id", "reference", "patient", "patient_coi", "site", "destination_site",
                  "container_type", "container_id", "carrier", "tracking_number", "status",
                  "created_at"]


class LegSerializer(serializers.Serializer):
    origin = serializers.CharField(max_length=200)
    destination = serializers.CharField(max_length=200)
    carrier = serializers.CharField(max_length=100)


class ShipmentRequestSerializer(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    origin = _by_code(Site)
    destination = _by_code(Site)
    container_type = _by_code(ContainerType)
    container_id = serializers.CharField(max_length=64)
    carrier = serializers.CharField(max_length=100)
    tracking_number = serializers.CharField(max_length=64, required=False, default="")
    legs = LegSerializer(many=True, required=False, default=list, max_length=10)


class ReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemperatureReading
        fields = ["logger_id", "recorded_at", "celsius"]


class ReadingBatchRequestSerializer(serializers.Serializer):
    readings = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=coldchain.MAX_BATCH,
        help_text="Each {recorded_at (ISO 8601 with offset), celsius, logger_id}. Values that "
                  "are not numbers or physically absurd, and times before the shipment's "
                  "shipping handoff or after its receipt, are refused one by one, each with "
                  "a code and a reason. If nothing is accepted and something was refused, "
                  "the whole batch is refused (400) and nothing is recorded.")


class PeriodSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    minutes = serializers.DecimalField(max_digits=9, decimal_places=1)
    extreme = serializers.DecimalField(max_digits=6, decimal_places=2)


class ColdChainSerializer(serializers.Serializer):
    readings = serializers.IntegerField()
    minimum = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)
    maximum = serializers.DecimalField(max_digits=6, decimal_places=2, allow_null=True)
    minutes_out_of_range = serializers.DecimalField(max_digits=9, decimal_places=1)
    budget_minutes = serializers.IntegerField()
    budget_exceeded = serializers.BooleanField()
    periods = PeriodSerializer(many=True)


class ReadingBatchResultSerializer(serializers.Serializer):
    batch = serializers.IntegerField(
        source="batch.pk", allow_null=True,
        help_text="The batch recorded; null when every reading was already stored (nothing "
                  "new, nothing recorded).")
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    refused = serializers.ListField(child=serializers.DictField())
    cold_chain = ColdChainSerializer(source="summary")
    new_excursion_reports = serializers.SerializerMethodField()

    def get_new_excursion_reports(self, result) -> int:
        return len(result.new_reports)


class ShipmentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ShipmentSerializer
    queryset = Shipment.objects.none()
    permission_classes = [Allowed]
    read_permission = "custody.view_shipment"
    write_permission = "custody.add_shipment"
    write_permissions = {"readings": "custody.add_temperaturereading"}

    def get_queryset(self):
        return selectors.shipments_for(self.request.user)

    @extend_schema(request=ShipmentRequestSerializer, responses={201: ShipmentSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = ShipmentRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if not Patient.objects.visible_to(request.user).filter(pk=data["patient"].pk).exists():
            raise Http404
        legs = [coldchain.LegPlan(**leg) for leg in data.pop("legs")]
        shipment = coldchain.create_shipment(actor=request.user, legs=legs or None, **data)
        return Response(ShipmentSerializer(shipment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ColdChainSerializer})
    @action(detail=True, methods=["get"], url_path="cold-chain")
    def cold_chain(self, request, pk=None):
        [cold] = selectors.cold_chain_of([self.get_object()])
        return Response(ColdChainSerializer(cold.summary).data)

    @extend_schema(methods=["GET"], responses={200: ReadingSerializer(many=True)})
    @extend_schema(methods=["POST"], request=ReadingBatchRequestSerializer,
                   responses={201: ReadingBatchResultSerializer,
                              200: ReadingBatchResultSerializer})
    @action(detail=True, methods=["get", "post"])
    def readings(self, request, pk=None):
        shipment = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(shipment.readings.order_by("recorded_at", "pk"))
            return self.get_paginated_response(ReadingSerializer(page, many=True).data)
        return self._ingest(request, shipment)

    @idempotent
    def _ingest_view(self, request, shipment):
        incoming = ReadingBatchRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = coldchain.ingest_readings(actor=request.user, shipment=shipment,
                                           readings=incoming.validated_data["readings"],
                                           source=ReadingBatch.Source.API)
        # 200 when nothing new was stored (every reading a duplicate): no batch is recorded.
        return Response(ReadingBatchResultSerializer(result).data,
                        status=status.HTTP_201_CREATED if result.batch else status.HTTP_200_OK)

    def _ingest(self, request, shipment):
        return self._ingest_view(request, shipment)
