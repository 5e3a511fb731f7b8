"""Scheduling API: suites, equipment, logbooks (list and write), bookings (create with
``Idempotency-Key``, move, confirm and cancel with a reason), the feasibility of a proposed
booking (no write) and an order's predicted release date. Thin: scoped querysets, writes
through the services; another site's record is a 404."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from custody.models import Order
from mes.api.idempotency import idempotent
from mes.errors import DomainError, NotFound
from scheduling import feasibility, selectors, services
from scheduling.api.common import Allowed, find_order, find_suite
from scheduling.api.serializers import (
    BookingRequestSerializer,
    BookingSerializer,
    ConfirmSerializer,
    EquipmentSerializer,
    FeasibilitySerializer,
    MoveSerializer,
    PredictionSerializer,
    ProposalSerializer,
    ReasonSerializer,
    SuiteSerializer,
)
from scheduling.models import (
    Booking,
    BookingStatus,
    Equipment,
    Suite,
)


# --- views ---------------------------------------------------------------------------------
class SuiteViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SuiteSerializer
    queryset = Suite.objects.none()
    permission_classes = [Allowed]
    read_permission = "scheduling.view_suite"

    def get_queryset(self):
        suites = selectors.suites_for(self.request.user)
        if self.request.query_params.get("site"):
            suites = suites.filter(site__code=self.request.query_params["site"])
        return suites.order_by("site__code", "code")

    @extend_schema(parameters=[OpenApiParameter("site", str, description="Site code")])
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {
            **self.get_serializer_context(),
            "unavailable": selectors.unavailable_suite_ids(page),
        }
        return self.get_paginated_response(SuiteSerializer(page, many=True, context=context).data)


class EquipmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = EquipmentSerializer
    queryset = Equipment.objects.none()
    permission_classes = [Allowed]
    read_permission = "scheduling.view_equipment"

    def get_queryset(self):
        params = self.request.query_params
        pieces = selectors.equipment_for(self.request.user)
        if params.get("suite"):
            pieces = pieces.filter(suite__code=params["suite"])
        if params.get("type"):
            pieces = pieces.filter(equipment_type__code=params["type"])
        return pieces.order_by("suite__code", "identifier")

    @extend_schema(
        parameters=[
            OpenApiParameter("suite", str, description="Suite code"),
            OpenApiParameter("type", str, description="Equipment type code"),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class BookingViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = BookingSerializer
    queryset = Booking.objects.none()
    permission_classes = [Allowed]
    read_permission = "scheduling.view_booking"
    write_permission = "scheduling.add_booking"
    write_permissions = {
        "move": "scheduling.change_booking",
        "cancel": "scheduling.change_booking",
        "confirm": "scheduling.change_booking",
    }

    def get_queryset(self):
        params = self.request.query_params
        bookings = selectors.bookings_for(self.request.user)
        if params.get("suite"):
            bookings = bookings.filter(suite__code=params["suite"])
        if params.get("status") in BookingStatus.values:
            bookings = bookings.filter(status=params["status"])
        return bookings.order_by("start_date", "suite__code", "pk")

    @extend_schema(
        parameters=[
            OpenApiParameter("suite", str, description="Suite code"),
            OpenApiParameter("status", str, enum=BookingStatus.values),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _answer(self, booking, code=status.HTTP_200_OK):
        # The written booking as the caller may see it, whatever the request's list filters
        # (?suite=, ?status=) say: the write is committed, the answer must not fail.
        written = selectors.bookings_for(self.request.user).get(pk=booking.pk)
        return Response(BookingSerializer(written).data, status=code)

    @extend_schema(request=BookingRequestSerializer, responses={201: BookingSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = BookingRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        booking = services.book(
            actor=request.user,
            order=find_order(request.user, data["order"]),
            suite=find_suite(request.user, data["suite"]),
            start=data["start_date"],
            reason=data["reason"],
        )
        return self._answer(booking, status.HTTP_201_CREATED)

    @extend_schema(request=MoveSerializer, responses={200: BookingSerializer})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the booking to another suite and/or start day, with a reason."""
        booking = self.get_object()
        incoming = MoveSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        suite = find_suite(request.user, data["suite"]) if data["suite"] else None
        return self._answer(
            services.move(
                actor=request.user,
                booking=booking,
                suite=suite,
                start=data["start_date"],
                reason=data["reason"],
            )
        )

    @extend_schema(request=ReasonSerializer, responses={200: BookingSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the booking with a reason; its days and reservations are freed."""
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._answer(
            services.cancel(
                actor=request.user,
                booking=self.get_object(),
                reason=incoming.validated_data["reason"],
            )
        )

    @extend_schema(request=ConfirmSerializer, responses={200: BookingSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm the booking; with problems, a Supervisor's reason and signature."""
        incoming = ConfirmSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._answer(
            services.confirm(
                actor=request.user,
                booking=self.get_object(),
                request=request._request,
                **incoming.validated_data,
            )
        )

    @extend_schema(responses=FeasibilitySerializer)
    @action(detail=True, methods=["get"])
    def feasibility(self, request, pk=None):
        """Every problem of the booking over its whole window, and its release dates."""
        booking = self.get_object()
        plan = feasibility.plan_for(booking.order)
        if plan is None:
            raise DomainError(
                f"{booking.order.patient.product.code} has no process plan.", code="no_process_plan"
            )
        found = feasibility.assess(
            order=booking.order,
            suite=booking.suite,
            start=booking.start_date,
            plan=plan,
            booking=booking,
        )
        return Response(FeasibilitySerializer(found.as_dict()).data)


class FeasibilityView(APIView):
    """The feasibility of a proposed booking; nothing is written."""

    permission_classes = [Allowed]
    read_permission = write_permission = "scheduling.view_booking"

    @extend_schema(request=ProposalSerializer, responses={200: FeasibilitySerializer})
    def post(self, request):
        incoming = ProposalSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        order = find_order(request.user, data["order"])
        suite = find_suite(request.user, data["suite"])
        if suite.site_id != order.site_id:
            raise DomainError(
                f"Suite {suite.code} is not at the order's manufacturing site.",
                code="wrong_site",
                fields={"suite": ["Another site's suite."]},
            )
        plan = feasibility.plan_for(order)
        if plan is None:
            raise DomainError(
                f"{order.patient.product.code} has no process plan.", code="no_process_plan"
            )
        start = data["start_date"] or plan.earliest_start(feasibility.collection_date(order))
        # A proposal for a booked order is a proposed move: its own booking does not count
        # against it.
        booking = Booking.objects.active().filter(order=order).first()
        found = feasibility.assess(
            order=order, suite=suite, start=start, plan=plan, booking=booking
        )
        return Response(FeasibilitySerializer(found.as_dict()).data)


class PredictionView(APIView):
    """An order's predicted release date, for the treating site (custody's order API cannot
    show it: custody sits below scheduling)."""

    permission_classes = [Allowed]
    read_permission = "custody.view_order"

    @extend_schema(responses={200: PredictionSerializer})
    def get(self, request, order_id: int):
        order = (
            Order.objects.visible_to(request.user)
            .filter(pk=order_id)
            .select_related("patient__product")
            .first()
        )
        if order is None:
            raise NotFound("No such order at your sites.")
        if order.status == Order.Status.CANCELLED:
            raise NotFound(
                "The order is cancelled; no release date is predicted.", code="order_cancelled"
            )
        prediction = selectors.prediction_for(order)
        if prediction is None:
            raise NotFound(
                f"{order.patient.product.code} has no process plan; no release "
                "date can be predicted.",
                code="no_process_plan",
            )
        return Response(PredictionSerializer(prediction).data)
