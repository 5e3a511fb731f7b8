"""Master records API: read master records and versions (scoped to the caller's sites, so
another site's id is a 404), export a version as JSON, import a document as a draft
(``Idempotency-Key`` replays the first answer), and the published JSON Schema."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from batchrecords import selectors
from batchrecords.exchange import export_version, parse_json, schema
from batchrecords.models import MasterRecord, MasterRecordVersion
from batchrecords.services import versions as lifecycle
from mes.api.idempotency import idempotent
from mes.api.parsers import StrictJSONParser


class CanReadMasterRecords(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.method == "POST":
            return request.user.has_perm(lifecycle.AUTHOR)
        return request.user.has_perm("batchrecords.view_masterrecord")


class VersionSummarySerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text=", ".join(MasterRecordVersion.Status.values)
    )
    author = serializers.CharField(source="author.username")
    approved_by = serializers.CharField(
        source="approved_by.username", allow_null=True, default=None
    )

    class Meta:
        model = MasterRecordVersion
        fields = [
            "id",
            "number",
            "status",
            "title",
            "author",
            "created_at",
            "approved_by",
            "approved_at",
        ]


class MasterRecordSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.code")
    site = serializers.CharField(source="site.code")
    versions = VersionSummarySerializer(many=True)

    class Meta:
        model = MasterRecord
        fields = ["id", "product", "site", "title", "versions"]


class VersionSerializer(VersionSummarySerializer):
    product = serializers.CharField(source="master.product.code")
    site = serializers.CharField(source="master.site.code")
    based_on = serializers.IntegerField(source="based_on_id", allow_null=True)
    change_summary = serializers.CharField()
    procedure = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [
            *VersionSummarySerializer.Meta.fields,
            "product",
            "site",
            "based_on",
            "change_summary",
            "procedure",
        ]

    def get_procedure(self, version) -> dict:
        return export_version(version)


class ImportSerializer(serializers.Serializer):
    site = serializers.CharField(help_text="The site code the draft belongs to.")
    document = serializers.JSONField(
        help_text="A master record document valid against /api/v1/batchrecords/schema/."
    )


class MasterRecordViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MasterRecordSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadMasterRecords]
    queryset = MasterRecord.objects.none()

    def get_queryset(self):
        return selectors.master_records(self.request.user)


class VersionListSerializer(VersionSerializer):
    """A version in the list: everything but the procedure, which the detail and the export
    give (serialising each listed version's procedure cost queries per row)."""

    class Meta(VersionSerializer.Meta):
        fields = [f for f in VersionSerializer.Meta.fields if f != "procedure"]


class VersionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = VersionSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadMasterRecords]
    queryset = MasterRecordVersion.objects.none()

    def get_serializer_class(self):
        return VersionListSerializer if self.action == "list" else VersionSerializer

    def get_queryset(self):
        return selectors.versions(self.request.user).order_by("master_id", "-number")

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        version = self.get_object()
        response = Response(export_version(version))
        filename = f"{version.master.product.code}-{version.master.site.code}-v{version.number}"
        response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
        return response


class DocumentParser(StrictJSONParser):
    """The strict parser's refusals, and a key said twice in one object (which the document
    would otherwise mean either way): each a 400 with the error body, naming ``$``."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read() if stream is not None else b"", max_depth=12)


class ImportView(APIView):
    """Import a master record document; it arrives as a new draft version. JSON only, through
    the strict parser (NUL characters, NaN and deep nesting refused as 400): a form-encoded
    body would have its document decoded without those checks."""

    permission_classes = [permissions.IsAuthenticated, CanReadMasterRecords]
    parser_classes = [DocumentParser]

    @extend_schema(request=ImportSerializer, responses={201: VersionSerializer})
    @idempotent
    def post(self, request):
        incoming = ImportSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        site = request.user.sites().filter(code=incoming.validated_data["site"]).first()
        if site is None:
            raise Http404("No such site.")
        version = lifecycle.import_document(
            actor=request.user, site=site, document=incoming.validated_data["document"]
        )
        version = selectors.versions(request.user).get(pk=version.pk)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class SchemaView(APIView):
    """The JSON Schema every exported and imported master record document follows."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(schema())
