"""Training API: read certifications and training records (scoped to the caller's sites),
ask the gate, and record a completion from the external learning system (idempotent: the
``Idempotency-Key`` header replays the first answer, and the system's own reference is
recorded once). A completion is recorded by the calling account and awaits the named
trainer's signature before it counts."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from mes.api.idempotency import idempotent
from mes.models import Site, User
from training import selectors
from training.models import (
    Certification,
    CertificationDecision,
    CleanroomGrade,
    SOPRevision,
    TrainingRecord,
)
from training.services import records
from training.services.gate import check_certified


class CanReadTraining(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.method == "POST" and getattr(view, "action", None) == "create":
            return request.user.has_perm("training.import_training_record")
        return request.user.has_perm("training.view_certification")


# --- Serializers -------------------------------------------------------------------------
def _choice_text(choices) -> serializers.CharField:
    """A state as plain text with its values documented: enum components named after
    common field names ("status", "source") collide with other apps' in the schema."""
    return serializers.CharField(read_only=True, help_text=", ".join(choices.values))


class DecisionSerializer(serializers.ModelSerializer):
    action = _choice_text(CertificationDecision.Action)
    decided_by = serializers.CharField(source="decided_by.username")
    signed_by = serializers.SerializerMethodField()

    class Meta:
        model = CertificationDecision
        fields = ["action", "reason", "decided_by", "decided_at", "signed_by"]

    def get_signed_by(self, decision) -> list[str]:
        return [f"{s.printed_name} ({s.meaning}, {s.signed_at.isoformat()})"
                for s in decision.signatures.all()]


class CertificationSerializer(serializers.ModelSerializer):
    person = serializers.CharField(source="person.username")
    person_name = serializers.CharField(source="person.full_name")
    qualification = serializers.CharField(source="qualification.code")
    site = serializers.CharField(source="site.code")
    decisions = DecisionSerializer(many=True)
    status = _choice_text(Certification.Status)

    class Meta:
        model = Certification
        fields = ["id", "person", "person_name", "qualification", "site", "valid_from",
                  "valid_until", "status", "decisions"]


class TrainingRecordSerializer(serializers.ModelSerializer):
    trainee = serializers.CharField(source="trainee.username")
    trainer = serializers.CharField(source="trainer.username",
                                    help_text="The trainer who verifies (signs) the record.")
    recorded_by = serializers.CharField(
        source="recorded_by.username",
        help_text="Who entered the record: the trainee, or the learning system's account.")
    sop = serializers.CharField(source="sop_revision.document.number")
    revision = serializers.CharField(source="sop_revision.revision")
    site = serializers.CharField(source="site.code")
    assessment = _choice_text(TrainingRecord.Assessment)
    status = _choice_text(TrainingRecord.Status)
    source = _choice_text(TrainingRecord.Source)
    signatures = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRecord
        fields = ["id", "trainee", "trainer", "recorded_by", "sop", "revision", "site",
                  "trained_on", "assessment", "status", "source", "external_reference",
                  "signatures"]

    def get_signatures(self, record) -> list[str]:
        return [f"{s.printed_name} ({s.meaning}, {s.signed_at.isoformat()})"
                for s in record.signatures.all()]


class CompletionSerializer(serializers.Serializer):
    """A completion as the learning system reports it, by its natural identifiers."""

    trainee = serializers.CharField(help_text="username")
    trainer = serializers.CharField(help_text="username")
    sop = serializers.CharField(help_text="SOP number, e.g. SOP-CS-001")
    revision = serializers.CharField()
    site = serializers.CharField(help_text="site code")
    trained_on = serializers.DateField()
    assessment = serializers.ChoiceField(choices=TrainingRecord.Assessment.choices)
    external_reference = serializers.CharField(max_length=100)


class GateQuestionSerializer(serializers.Serializer):
    person = serializers.CharField(help_text="username")
    site = serializers.CharField(help_text="site code")
    qualifications = serializers.ListField(child=serializers.CharField(), required=False,
                                           default=list)
    cleanroom_grade = serializers.ChoiceField(choices=CleanroomGrade.choices, required=False,
                                              allow_blank=True, default="")
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class GateReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    qualification = serializers.CharField()
    message = serializers.CharField()
    date = serializers.DateField(allow_null=True)


class GateAnswerSerializer(serializers.Serializer):
    certified = serializers.BooleanField()
    person = serializers.CharField()
    site = serializers.CharField()
    on = serializers.DateField()
    reasons = GateReasonSerializer(many=True)


# --- Views -------------------------------------------------------------------------------
def _lookup(queryset, what: str, **filters):
    found = queryset.filter(**filters).first()
    if found is None:
        raise Http404(f"No such {what}.")
    return found


class CertificationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CertificationSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadTraining]
    queryset = Certification.objects.none()

    def get_queryset(self):
        queryset = selectors.certifications_of_sites(self.request.user.sites())
        params = self.request.query_params
        if params.get("person"):
            queryset = queryset.filter(person__username=params["person"])
        if params.get("qualification"):
            queryset = queryset.filter(qualification__code=params["qualification"])
        if params.get("status") in Certification.Status.values:
            queryset = queryset.filter(status=params["status"])
        return queryset


class TrainingRecordViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = TrainingRecordSerializer
    permission_classes = [permissions.IsAuthenticated, CanReadTraining]
    queryset = TrainingRecord.objects.none()

    def get_queryset(self):
        queryset = selectors.training_records(
            TrainingRecord.objects.visible_to(self.request.user))
        if self.request.query_params.get("trainee"):
            queryset = queryset.filter(trainee__username=self.request.query_params["trainee"])
        return queryset

    @extend_schema(request=CompletionSerializer,
                   responses={201: TrainingRecordSerializer, 200: TrainingRecordSerializer})
    @idempotent
    def create(self, request, *args, **kwargs):
        incoming = CompletionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        people = User.objects.visible_to(request.user)
        site = _lookup(request.user.sites(), "site", code=data["site"])
        revision = _lookup(SOPRevision.objects.select_related("document"), "SOP revision",
                           document__number=data["sop"], revision=data["revision"])
        record, created = records.record_external_completion(
            actor=request.user, trainee=_lookup(people, "trainee", username=data["trainee"]),
            trainer=_lookup(people, "trainer", username=data["trainer"]),
            sop_revision=revision, site=site, trained_on=data["trained_on"],
            assessment=data["assessment"], external_reference=data["external_reference"])
        # Re-read with the list's joins, but not its filters: a query string left on the
        # POST must not hide the record just written.
        record = selectors.training_records(TrainingRecord.objects.filter(pk=record.pk)).get()
        return Response(TrainingRecordSerializer(record).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class GateView(APIView):
    """Ask the gate whether a person is certified (for external systems)."""

    permission_classes = [permissions.IsAuthenticated, CanReadTraining]

    @extend_schema(request=GateQuestionSerializer, responses={200: GateAnswerSerializer})
    def post(self, request):
        incoming = GateQuestionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        site: Site = _lookup(request.user.sites(), "site", code=data["site"])
        person = _lookup(User.objects.visible_to(request.user), "person",
                         username=data["person"])
        result = check_certified(person=person, qualification_codes=data["qualifications"],
                                 site=site, at=data["at"],
                                 cleanroom_grade=data["cleanroom_grade"] or None)
        return Response(GateAnswerSerializer({
            "certified": result.certified, "person": person.username, "site": site.code,
            "on": result.on, "reasons": [r.as_dict() for r in result.reasons],
        }).data)
