"""Kernel API: users (read), sites (read), a record's audit trail, signatures (create via
the sign service, read, verify). Thin: querysets are scoped to the caller's sites and every
write goes through a service."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from mes import audit_trail
from mes.api.idempotency import idempotent
from mes.api.serializers import (
    FieldChangeSerializer,
    SignatureSerializer,
    SignRequestSerializer,
    SiteSerializer,
    UserSerializer,
    VerificationSerializer,
)
from mes.errors import DomainError
from mes.models import ElectronicSignature, Signable, Site, User
from mes.services import signatures
from mes.services.security import client_address


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = UserSerializer
    queryset = User.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self):
        return (User.objects.visible_to(self.request.user).prefetch_related("groups")
                .order_by("full_name", "pk"))


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SiteSerializer
    queryset = Site.objects.none()

    def get_queryset(self):
        return self.request.user.sites().order_by("code")


class HasAuditTrailPermission(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("mes.view_audit_trail")


class AuditTrailView(APIView):
    permission_classes = [permissions.IsAuthenticated, HasAuditTrailPermission]

    @extend_schema(
        responses=FieldChangeSerializer(many=True),
        parameters=[OpenApiParameter(
            "purpose", str, required=False,
            description="Why you need to see it: required for a record whose content is "
                        "restricted (a clinical identity); the view is logged with it.",
        )],
    )
    def get(self, request, app_label: str, model_name: str, pk: int):
        record = audit_trail.history_visible_to(request.user, app_label, model_name, pk)
        audit_trail.reveal_history(request.user, record, pk,
                                   purpose=request.query_params.get("purpose", ""),
                                   remote_addr=client_address(request))
        changes = audit_trail.field_changes(record.model, record.rows)
        return Response(FieldChangeSerializer(changes, many=True).data)


class SignatureViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SignatureSerializer
    queryset = ElectronicSignature.objects.none()

    def get_queryset(self):
        user = self.request.user
        return (ElectronicSignature.objects.select_related("content_type")
                .filter(Q(site__in=user.sites()) | Q(site__isnull=True, signer=user))
                .order_by("-signed_at", "-pk"))

    @extend_schema(request=SignRequestSerializer, responses={201: SignatureSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = SignRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        model = data["record_type"]
        if not issubclass(model, Signable):
            raise DomainError("Records of this type are not signed.", code="not_signable")
        record = model._default_manager.filter(pk=data["record_id"]).first()
        site = record.signing_site() if record is not None else None
        if record is None or (site is not None and not request.user.has_site(site)):
            raise Http404
        signature = signatures.sign(user=request.user, password=data["password"],
                                    record=record, meaning=data["meaning"],
                                    reason=data["reason"], request=request._request)
        return Response(SignatureSerializer(signature).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: VerificationSerializer,
                              404: OpenApiResponse(description="No such signature")})
    @action(detail=True, methods=["get"])
    def verify(self, request, pk=None):
        result = signatures.verify(self.get_object())
        return Response(VerificationSerializer(result).data)
