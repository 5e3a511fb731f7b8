"""Logbook entries (list and write) and suite holds (list, and planning maintenance)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mes.api.idempotency import idempotent
from mes.errors import DomainError, NotFound
from scheduling import selectors, services
from scheduling.api.common import Allowed, find_suite
from scheduling.api.serializers import (
    LogbookEntrySerializer,
    LogbookWriteSerializer,
    MaintenanceRequestSerializer,
    SignedReasonSerializer,
    SuiteHoldSerializer,
)
from scheduling.models import LogbookEntry, SuiteHold


class LogbookViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = LogbookEntrySerializer
    queryset = LogbookEntry.objects.none()
    permission_classes = [Allowed]
    read_permission = "scheduling.view_logbookentry"
    write_permission = "scheduling.add_logbookentry"

    def get_queryset(self):
        params = self.request.query_params
        entries = selectors.logbook_for(self.request.user)
        if params.get("suite"):
            entries = entries.filter(suite__code=params["suite"])
        if params.get("equipment"):
            entries = entries.filter(equipment__identifier=params["equipment"])
        return entries

    @extend_schema(
        parameters=[
            OpenApiParameter("suite", str, description="Suite code"),
            OpenApiParameter("equipment", str, description="Equipment identifier"),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=LogbookWriteSerializer, responses={201: LogbookEntrySerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = LogbookWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        entry = _write_logbook(request, data)
        return Response(
            LogbookEntrySerializer(selectors.logbook_for(request.user).get(pk=entry.pk)).data,
            status=status.HTTP_201_CREATED,
        )


def _write_logbook(request, data) -> LogbookEntry:
    user, kind = request.user, data["kind"]
    K = LogbookEntry.Kind
    if kind == K.STATUS_CHANGE and data["equipment"] is None:
        if data["suite"] is None:
            raise DomainError(
                "Name the equipment or the suite.",
                code="invalid",
                fields={"equipment": ["Required."]},
            )
        return services.change_suite_status(
            actor=user,
            suite=find_suite(user, data["suite"]),
            status=data["status"],
            reason=data["text"],
            password=data["password"],
            request=request._request,
        )
    if data["equipment"] is None and data["suite"] is not None:
        # The room logbook: the suite's own cleaning and maintenance.
        if kind == K.CLEANING:
            return services.record_suite_cleaning(
                actor=user,
                password=data["password"],
                suite=find_suite(user, data["suite"]),
                text=data["text"],
                request=request._request,
            )
        if kind == K.MAINTENANCE:
            return services.record_suite_maintenance(
                actor=user, suite=find_suite(user, data["suite"]), text=data["text"]
            )
    if data["equipment"] is None:
        raise DomainError(
            "Name the equipment.", code="invalid", fields={"equipment": ["Required."]}
        )
    equipment = selectors.equipment_for(user).filter(pk=data["equipment"]).first()
    if equipment is None:
        raise NotFound(
            "No such equipment at your sites.", fields={"equipment": ["Unknown equipment."]}
        )
    if kind == K.USE:
        return services.record_use(
            actor=user,
            equipment=equipment,
            batch_number=data["batch_number"],
            patient_coi=data["patient_coi"],
            text=data["text"],
        )
    if kind == K.CLEANING:
        if data["clean_until"] is None:
            raise DomainError(
                "A cleaning says until when the equipment stays clean.",
                code="invalid",
                fields={"clean_until": ["Required."]},
            )
        return services.record_cleaning(
            actor=user,
            password=data["password"],
            equipment=equipment,
            clean_until=data["clean_until"],
            text=data["text"],
            request=request._request,
        )
    if kind == K.CALIBRATION:
        if data["next_due"] is None:
            raise DomainError(
                "A calibration says when the next one is due.",
                code="invalid",
                fields={"next_due": ["Required."]},
            )
        return services.record_calibration(
            actor=user,
            password=data["password"],
            equipment=equipment,
            next_due=data["next_due"],
            text=data["text"],
            request=request._request,
        )
    if kind == K.MAINTENANCE:
        return services.record_maintenance(actor=user, equipment=equipment, text=data["text"])
    return services.change_equipment_status(
        actor=user,
        equipment=equipment,
        status=data["status"],
        reason=data["text"],
        password=data["password"],
        request=request._request,
    )


class SuiteHoldViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Holds and maintenance windows of the caller's suites; planning a maintenance window."""

    serializer_class = SuiteHoldSerializer
    queryset = SuiteHold.objects.none()
    permission_classes = [Allowed]
    read_permission = "scheduling.view_suitehold"
    write_permission = "scheduling.add_suitehold"
    write_permissions = {"lift": "scheduling.change_suite_status"}

    def get_queryset(self):
        holds = selectors.holds_for(self.request.user)
        if self.request.query_params.get("suite"):
            holds = holds.filter(suite__code=self.request.query_params["suite"])
        return holds.order_by("starts_at", "pk")

    @extend_schema(parameters=[OpenApiParameter("suite", str, description="Suite code")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=MaintenanceRequestSerializer, responses={201: SuiteHoldSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = MaintenanceRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        hold = services.plan_maintenance(
            actor=request.user,
            suite=find_suite(request.user, data["suite"]),
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
        )
        return Response(
            SuiteHoldSerializer(selectors.holds_for(request.user).get(pk=hold.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=SignedReasonSerializer, responses={200: SuiteHoldSerializer})
    @action(detail=True, methods=["post"])
    def lift(self, request, pk=None):
        """Lift the hold or maintenance window: a signed release in the room logbook."""
        hold = self.get_object()
        incoming = SignedReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        lifted = services.lift_hold(
            actor=request.user,
            hold=hold,
            request=request._request,
            **incoming.validated_data,
        )
        written = selectors.holds_for(request.user).get(pk=lifted.pk)
        return Response(SuiteHoldSerializer(written).data)
