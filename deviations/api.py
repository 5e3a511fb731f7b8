"""Deviations API: create (with an Idempotency-Key), list and filter, detail, and the
decisions (acknowledge, classify, investigate, dispose, close, cancel). Thin: querysets are
scoped to the caller's sites and every write goes through a service."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deviations import selectors
from deviations.models import (
    Classification,
    Deviation,
    Disposition,
    Investigation,
    PatientImpact,
    Source,
    Status,
)
from deviations.services import raise_deviation, workflow
from mes.api.idempotency import idempotent
from mes.errors import DomainError


class DeviationSerializer(serializers.ModelSerializer):
    site = serializers.CharField(source="site.code")
    detected_by = serializers.CharField(source="detected_by.username")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", default=None,
                                            allow_null=True, read_only=True)
    subject_type = serializers.SerializerMethodField()

    class Meta:
        model = Deviation
        fields = ["id", "number", "site", "title", "description", "subject_type", "subject_id",
                  "subject_label", "batch_number", "patient_coi", "detected_at", "detected_by",
                  "source", "rule", "data", "classification", "classification_confirmed",
                  "patient_impact", "status", "immediate_actions", "acknowledge_due_at",
                  "disposition_due_at", "acknowledged_at", "acknowledged_by", "disposition",
                  "escalation_level", "closed_at", "cancellation_reason"]
        read_only_fields = fields

    def get_subject_type(self, deviation) -> str | None:
        content_type = deviation.subject_type
        return f"{content_type.app_label}.{content_type.model}" if content_type else None


class RaiseSerializer(serializers.Serializer):
    site = serializers.CharField(help_text="Site code, e.g. LEI")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField()
    classification = serializers.ChoiceField(Classification.choices, default="minor")
    patient_impact = serializers.ChoiceField(PatientImpact.choices, default="unknown")
    batch_number = serializers.CharField(max_length=64, required=False, default="",
                                         allow_blank=True)
    patient_coi = serializers.CharField(max_length=32, required=False, default="",
                                        allow_blank=True)
    subject_type = serializers.CharField(required=False, default="", allow_blank=True,
                                         help_text="app_label.model of the subject record")
    subject_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    source = serializers.ChoiceField(Source.choices, default="manual")
    rule = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    data = serializers.DictField(required=False, default=dict)
    immediate_actions = serializers.CharField(required=False, default="", allow_blank=True)


class AcknowledgeSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"})
    note = serializers.CharField(required=False, default="", allow_blank=True)


class ClassifySerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"})
    classification = serializers.ChoiceField(Classification.choices)
    patient_impact = serializers.ChoiceField(PatientImpact.choices)
    rationale = serializers.CharField()


class InvestigateSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"})
    root_cause_category = serializers.ChoiceField(Investigation.RootCause.choices)
    narrative = serializers.CharField()


class DisposeSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"})
    decision = serializers.ChoiceField(Disposition.Decision.choices)
    rationale = serializers.CharField()


class CloseSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"})
    summary = serializers.CharField()
    justification = serializers.CharField(required=False, default="", allow_blank=True)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField()


class CanSeeDeviations(permissions.BasePermission):
    """Seeing needs the view permission; raising needs the raise permission whatever the
    source (the service checks it only for manual deviations, which an API caller chooses)."""

    def has_permission(self, request, view):
        if view.action == "create":
            return request.user.has_perm("deviations.raise_deviation")
        return request.user.has_perm("deviations.view_deviation")


def _subject(user, label: str, pk):
    if not label:
        return None
    try:
        record = selectors.visible_subject(user, label, pk)
    except LookupError:
        raise DomainError(f"Unknown subject type “{label}”.", code="invalid",
                          fields={"subject_type": ["Unknown."]}) from None
    if record is None:
        raise DomainError("The subject record does not exist or is not visible to you.",
                          code="invalid", fields={"subject_id": ["Not found."]})
    return record


@extend_schema(parameters=[
    OpenApiParameter("site", str), OpenApiParameter("classification", str),
    OpenApiParameter("patient_impact", str), OpenApiParameter("status", str),
    OpenApiParameter("batch_number", str), OpenApiParameter("patient_coi", str),
])
class DeviationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = DeviationSerializer
    permission_classes = [permissions.IsAuthenticated, CanSeeDeviations]
    queryset = Deviation.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self):
        params = self.request.query_params
        deviations = (Deviation.objects.visible_to(self.request.user)
                      .select_related(*selectors.BOARD_RELATED).order_by("-detected_at", "-pk"))
        if params.get("site"):
            deviations = deviations.filter(site__code=params["site"])
        for field, choices in (("classification", Classification), ("status", Status),
                               ("patient_impact", PatientImpact)):
            value = params.get(field)
            if value:
                if value not in choices.values:
                    raise DomainError(f"Unknown {field} “{value}”.", code="invalid",
                                      fields={field: ["Not valid."]})
                deviations = deviations.filter(**{field: value})
        for field in ("batch_number", "patient_coi"):
            if params.get(field):
                deviations = deviations.filter(**{field: params[field]})
        return deviations

    @extend_schema(request=RaiseSerializer, responses={201: DeviationSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = RaiseSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        site = request.user.sites().filter(code=data.pop("site")).first()
        if site is None:
            raise DomainError("No such site among yours.", code="invalid",
                              fields={"site": ["Unknown or not yours."]})
        subject = _subject(request.user, data.pop("subject_type"), data.pop("subject_id"))
        deviation = raise_deviation(reporter=request.user, site=site, subject=subject, **data)
        return Response(DeviationSerializer(deviation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AcknowledgeSerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        deviation = self.get_object()
        incoming = AcknowledgeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        deviation = workflow.acknowledge_deviation(
            actor=request.user, password=incoming.validated_data["password"],
            deviation=deviation, note=incoming.validated_data["note"],
            request=request._request)
        deviation = self.get_queryset().get(pk=deviation.pk)
        return Response(DeviationSerializer(deviation).data)

    def _decide(self, request, incoming_class, service, *, signed: bool = True):
        """Validate, call the workflow service (which refuses with a 4xx JSON body), answer
        with the deviation as it now stands."""
        deviation = self.get_object()
        incoming = incoming_class(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        if signed:
            data["request"] = request._request
        service(actor=request.user, deviation=deviation, **data)
        deviation = self.get_queryset().get(pk=deviation.pk)
        return Response(DeviationSerializer(deviation).data)

    @extend_schema(request=ClassifySerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def classify(self, request, pk=None):
        """Confirm the classification, signed *reviewed*; never by the raiser (403)."""
        return self._decide(request, ClassifySerializer, workflow.classify_deviation)

    @extend_schema(request=InvestigateSerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def investigate(self, request, pk=None):
        """Record the investigation, signed *authored*; never by the raiser (403)."""
        return self._decide(request, InvestigateSerializer, workflow.record_investigation)

    @extend_schema(request=DisposeSerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def dispose(self, request, pk=None):
        """Sign the disposition of the material, *approved*; never by the raiser (403)."""
        return self._decide(request, DisposeSerializer, workflow.dispose_material)

    @extend_schema(request=CloseSerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close, signed *approved*; never by the raiser (403)."""
        return self._decide(request, CloseSerializer, workflow.close_deviation)

    @extend_schema(request=CancelSerializer, responses={200: DeviationSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel with a reason (QA); never by the raiser (403)."""
        return self._decide(request, CancelSerializer, workflow.cancel_deviation,
                            signed=False)
