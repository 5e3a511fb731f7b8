"""Reagents API: materials and lots (read, filtered), receipt from a GS1 string and
consumption for integrations (both idempotent), QA's signed release, rejection and hold,
genealogy. Thin: every write is a service."""

from __future__ import annotations

from django.apps import apps
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from mes.api.idempotency import idempotent
from mes.apps import OUR_APPS
from mes.errors import DomainError, NotFound
from reagents import selectors, services
from reagents.models import LotStatus, Material, ReagentLot, StockEntry


def requires(permission: str):
    class Required(permissions.BasePermission):
        def has_permission(self, request, view):
            return request.user.has_perm(permission)

    Required.__name__ = f"Requires_{permission.replace('.', '_')}"
    return Required


# --- serializers ---------------------------------------------------------------------------
class MaterialSerializer(serializers.ModelSerializer):
    gtins = serializers.SerializerMethodField()

    class Meta:
        model = Material
        fields = ["id", "code", "name", "unit", "storage_condition", "is_critical",
                  "requires_qa_release", "is_active", "gtins"]

    def get_gtins(self, material) -> list[str]:
        return [g.gtin for g in material.gtins.all()]


class LotSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code", read_only=True)
    material = serializers.CharField(source="material.code", read_only=True)
    received_by = serializers.CharField(source="received_by.full_name", read_only=True)

    class Meta:
        model = ReagentLot
        fields = ["id", "site", "material", "gtin", "supplier_lot", "serial_number",
                  "expiry_date", "status", "quantity_received", "quantity_on_hand",
                  "storage_location", "coa_reference", "received_at", "received_by"]


class StockEntrySerializer(serializers.ModelSerializer):
    entered_by = serializers.CharField(source="entered_by.full_name", read_only=True)

    class Meta:
        model = StockEntry
        fields = ["id", "lot", "kind", "quantity", "balance_after", "occurred_at",
                  "recorded_at", "entered_by", "reason", "batch_number", "patient_coi",
                  "purpose_label", "reverses"]


class ReceiveSerializer(serializers.Serializer):
    site = serializers.CharField(help_text="Site code, e.g. LEI")
    scan = serializers.CharField(trim_whitespace=False, max_length=300,
                                 help_text="The GS1 string as the scanner sent it")
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    storage_location = serializers.CharField(max_length=100)
    expiry_date = serializers.DateField(required=False, allow_null=True, default=None)
    reading = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=400,
        help_text="Only for a scan without separators that reads more than one way: the "
                  "reading (human-readable, as listed in the refusal's fields.reading) that "
                  "the receiver confirmed against the printed label")


class ConsumeSerializer(serializers.Serializer):
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    material = serializers.CharField(help_text="Code of the material the step requires")
    batch_number = serializers.CharField(max_length=64)
    patient_coi = serializers.CharField(max_length=32, allow_blank=True, default="")
    purpose_type = serializers.CharField(required=False, default="",
                                         help_text="app_label.model of the step execution")
    purpose_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                   help_text="Moment of use (default: now)")


class ReleaseSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, trim_whitespace=False,
                                     style={"input_type": "password"})
    coa_reference = serializers.CharField(max_length=100)
    reason = serializers.CharField(max_length=2000, required=False, default="",
                                   allow_blank=True)


class DecisionReasonSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, trim_whitespace=False,
                                     style={"input_type": "password"})
    reason = serializers.CharField(max_length=2000)


class UseSerializer(serializers.Serializer):
    batch_number = serializers.CharField()
    patient_coi = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    first_used = serializers.DateTimeField()
    last_used = serializers.DateTimeField()
    consumptions = serializers.IntegerField()


class LotUseSerializer(serializers.Serializer):
    lot = LotSerializer()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    first_used = serializers.DateTimeField()
    patient_coi = serializers.CharField()


# --- views ---------------------------------------------------------------------------------
class MaterialViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MaterialSerializer
    queryset = Material.objects.none()
    permission_classes = [permissions.IsAuthenticated, requires("reagents.view_material")]

    @extend_schema(parameters=[OpenApiParameter("code", str), OpenApiParameter("gtin", str),
                               OpenApiParameter("critical", bool)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        materials = selectors.materials()
        params = self.request.query_params
        if params.get("code"):
            materials = materials.filter(code=params["code"])
        if params.get("gtin"):
            materials = materials.filter(gtins__gtin=params["gtin"].zfill(14))
        if params.get("critical") in ("true", "false"):
            materials = materials.filter(is_critical=params["critical"] == "true")
        return materials


class LotViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = LotSerializer
    queryset = ReagentLot.objects.none()
    permission_classes = [permissions.IsAuthenticated, requires("reagents.view_reagentlot")]

    def get_permissions(self):
        extra = {"receive": "reagents.receive_lot", "consume": "reagents.consume_lot",
                 "release": "reagents.release_lot", "reject": "reagents.release_lot",
                 "hold": "reagents.release_lot"}
        if self.action in extra:
            return [permissions.IsAuthenticated(), requires(extra[self.action])()]
        return super().get_permissions()

    def get_queryset(self):
        params = self.request.query_params
        expiring = params.get("expiring_within", "")
        # length first: int() refuses strings of thousands of digits with a ValueError
        expiring_days = int(expiring) if expiring.isdecimal() and len(expiring) < 9 else None
        if expiring and (expiring_days is None or expiring_days > selectors.MAX_EXPIRING_DAYS):
            raise DomainError("expiring_within must be a number of days.",
                              fields={"expiring_within": [
                                  f"A whole number from 0 to {selectors.MAX_EXPIRING_DAYS}."]})
        lots = selectors.lots_for(self.request.user, status=params.get("status", ""),
                                  material=params.get("material", ""),
                                  expiring_days=expiring_days)
        if params.get("site"):
            lots = lots.filter(site__code=params["site"])
        return lots.select_related("received_by")

    @extend_schema(parameters=[
        OpenApiParameter("status", str, enum=LotStatus.values),
        OpenApiParameter("material", str, description="Material code"),
        OpenApiParameter("site", str, description="Site code"),
        OpenApiParameter("expiring_within", int, description="Released lots expiring "
                                                             "within this many days")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ReceiveSerializer, responses={201: LotSerializer})
    @action(detail=False, methods=["post"])
    @idempotent
    def receive(self, request):
        incoming = ReceiveSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        site = request.user.sites().filter(code=data["site"]).first()
        if site is None:
            raise NotFound(f"No site {data['site']} among your sites.",
                           fields={"site": ["Unknown site."]})
        lot = services.receive_lot(user=request.user, site=site, scan=data["scan"],
                                   quantity=data["quantity"],
                                   storage_location=data["storage_location"],
                                   expiry_date=data["expiry_date"], reading=data["reading"])
        return Response(LotSerializer(lot).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConsumeSerializer, responses={201: StockEntrySerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def consume(self, request, pk=None):
        lot = self.get_object()
        incoming = ConsumeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        material = Material.objects.filter(code=data["material"]).first()
        if material is None:
            raise DomainError(f"No material has the code {data['material']}.",
                              code="unknown_material", fields={"material": ["Unknown."]})
        entry = services.consume_lot(
            user=request.user, lot=lot, quantity=data["quantity"], material=material,
            purpose=_purpose(request.user, data["purpose_type"], data["purpose_id"]),
            batch_number=data["batch_number"], patient_coi=data["patient_coi"], at=data["at"])
        return Response(StockEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReleaseSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """QA releases the lot against its certificate of analysis, signed as released."""
        return self._decide(request, ReleaseSerializer, services.release_lot)

    @extend_schema(request=DecisionReasonSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """QA rejects the lot with a reason, signed as rejected."""
        return self._decide(request, DecisionReasonSerializer, services.reject_lot)

    @extend_schema(request=DecisionReasonSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def hold(self, request, pk=None):
        """QA puts a released lot on hold with a reason, signed as approved."""
        return self._decide(request, DecisionReasonSerializer, services.hold_lot)

    def _decide(self, request, incoming_class, service):
        lot = self.get_object()
        incoming = incoming_class(data=request.data)
        incoming.is_valid(raise_exception=True)
        service(user=request.user, lot=lot, request=request._request,
                **incoming.validated_data)
        return Response(LotSerializer(self.get_queryset().get(pk=lot.pk)).data)

    @extend_schema(responses=UseSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)  # one list: every use of a lot
    def genealogy(self, request, pk=None):
        return Response(UseSerializer(selectors.recall_list(self.get_object()), many=True).data)


def _purpose(user, purpose_type: str, purpose_id: int | None):
    """The record a consumption is for, if the integration names one it may see."""
    if not purpose_type and purpose_id is None:
        return None
    app_label, _, model_name = (purpose_type or "").partition(".")
    fields = {"purpose_type": ["Give app_label.model and purpose_id of a record."]}
    if app_label not in OUR_APPS or purpose_id is None:
        raise DomainError("The purpose must name one of our records.", code="invalid_purpose",
                          fields=fields)
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError as exc:
        raise DomainError("The purpose must name one of our records.", code="invalid_purpose",
                          fields=fields) from exc
    record = model._default_manager.filter(pk=purpose_id).first()
    site = getattr(record, "site", None)
    if record is None or (site is not None and not user.has_site(site)):
        raise NotFound("The purpose record does not exist at your sites.", fields=fields)
    return record


class BatchGenealogyView(APIView):
    permission_classes = [permissions.IsAuthenticated, requires("reagents.view_reagentlot")]

    @extend_schema(parameters=[OpenApiParameter("batch_number", str),
                               OpenApiParameter("patient_coi", str)],
                   responses=LotUseSerializer(many=True))
    def get(self, request):
        batch_number = request.query_params.get("batch_number", "").strip()
        patient_coi = request.query_params.get("patient_coi", "").strip()
        if not (batch_number or patient_coi):
            raise DomainError("Give a batch_number or a patient_coi.", code="invalid",
                              fields={"batch_number": ["Required without patient_coi."]})
        uses = selectors.lots_used_by_batch(request.user, batch_number=batch_number,
                                            patient_coi=patient_coi)
        return Response(LotUseSerializer(uses, many=True).data)

