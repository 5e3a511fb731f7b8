"""Batches API: the patients' batches (list, detail with steps and values, progress) and the
execution of their steps (perform, verify, not applicable, corrections, comments).

Thin: reads come from ``batchrecords.reads`` narrowed to the caller's sites (another site's
batch or step is a 404), writes call the execution services. A signature's password travels
in the body; the terminal is the ``X-MES-Terminal`` header (a registered device, 21 CFR
11.10(h)); the revision the caller last read is sent back, and a stale one is a 409. Every
write honours ``Idempotency-Key``: a repeat replays the first answer instead of acting twice.
"""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from batchrecords import reads
from batchrecords.models import Batch, BatchException, BatchStatus, StepRun
from batchrecords.services import corrections, execution
from batchrecords.services.scanning import LotScan
from mes.api.idempotency import idempotent
from mes.api.parsers import StrictJSONParser
from mes.errors import NotFound
from scheduling.selectors import TERMINAL_HEADER, terminal_for_request

VIEW = "batchrecords.view_batch"
PERFORM = "batchrecords.perform_step"
VERIFY = "batchrecords.verify_step"
MAX_INT = 2**31 - 1


class Allowed(permissions.BasePermission):
    """Reading needs the view permission; each step action names its own (a comment is
    checked by the service: performers, verifiers and supervisors comment)."""

    def has_permission(self, request, view):
        needed = VIEW if request.method in permissions.SAFE_METHODS else (
            view.write_permissions.get(view.action, VIEW))
        return bool(request.user and request.user.is_authenticated
                    and request.user.has_perm(needed))


# --- what is answered ------------------------------------------------------------------------

class BatchSerializer(serializers.ModelSerializer):
    patient_coi = serializers.CharField(source="patient.coi")
    product = serializers.CharField(source="version.master.product.code")
    site = serializers.CharField(source="site.code")
    version_number = serializers.IntegerField(source="version.number")
    suite = serializers.CharField(source="booking.suite.code", default=None, allow_null=True)
    status = serializers.CharField(read_only=True, help_text=", ".join(BatchStatus.values))
    origin = serializers.CharField(read_only=True, help_text=", ".join(Batch.Origin.values))
    steps_total = serializers.IntegerField()
    steps_done = serializers.IntegerField(help_text="Done or not applicable.")
    exceptions = serializers.IntegerField(source="exception_count")
    open_stop = serializers.BooleanField()
    flagged = serializers.BooleanField(source="has_flag")

    class Meta:
        model = Batch
        fields = ["id", "number", "status", "origin", "previous", "origin_reason", "patient",
                  "patient_coi", "product", "site", "version", "version_number", "booking",
                  "suite", "opened_at", "started_at", "executed_at", "steps_total",
                  "steps_done", "exceptions", "open_stop", "flagged"]


class EarlierValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    flag = serializers.CharField(help_text="'', alert or action")
    entered_by = serializers.CharField(source="entered_by.username")
    entered_at = serializers.DateTimeField()
    reason = serializers.CharField()


class ValueSerializer(serializers.Serializer):
    key = serializers.CharField(source="current.field.key")
    label = serializers.CharField(source="current.field.label")
    unit = serializers.CharField(source="current.field.unit")
    value = serializers.CharField(source="current.value")
    number = serializers.DecimalField(source="current.number", max_digits=30,
                                      decimal_places=12, allow_null=True)
    flag = serializers.CharField(source="current.flag", help_text="'', alert or action")
    entered_by = serializers.CharField(source="current.entered_by.username")
    entered_at = serializers.DateTimeField(source="current.entered_at")
    reason = serializers.CharField(source="current.reason",
                                   help_text="Why the value was corrected ('' if never).")
    earlier = EarlierValueSerializer(many=True, help_text="The values this one corrected, "
                                     "oldest first: the originals stay.")


class StepSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="run.pk")
    sequence = serializers.IntegerField(source="run.sequence")
    stage = serializers.IntegerField(source="run.stage")
    operation = serializers.CharField(source="run.step.operation.code")
    code = serializers.CharField(source="run.step.code")
    title = serializers.CharField(source="run.step.title")
    status = serializers.CharField(source="run.status",
                                   help_text="pending, performed, done or not_applicable")
    revision = serializers.IntegerField(source="run.revision",
                                        help_text="Send it back with the next write.")
    critical = serializers.BooleanField(source="run.step.critical")
    second_person_verification = serializers.BooleanField(
        source="run.step.second_person_verification")
    na_allowed = serializers.BooleanField(source="run.step.na_allowed")
    flagged = serializers.BooleanField(source="run.flagged")
    performed_by = serializers.CharField(source="run.performed_by.username", default=None,
                                         allow_null=True)
    performed_at = serializers.DateTimeField(source="run.performed_at", allow_null=True)
    verified_by = serializers.CharField(source="run.verified_by.username", default=None,
                                        allow_null=True)
    verified_at = serializers.DateTimeField(source="run.verified_at", allow_null=True)
    na_reason = serializers.CharField(source="run.na_reason")
    values = ValueSerializer(many=True)


class ExceptionSerializer(serializers.ModelSerializer):
    step = serializers.CharField(source="run.step.code", default=None, allow_null=True)
    kind = serializers.CharField(read_only=True)
    actor = serializers.CharField(source="actor.username")
    second_person = serializers.CharField(source="second_person.username", default=None,
                                          allow_null=True)
    deviation_number = serializers.CharField(source="deviation.number", default=None,
                                             allow_null=True)

    class Meta:
        model = BatchException
        fields = ["id", "kind", "step", "run", "code", "field_key", "value", "detail", "actor",
                  "second_person", "deviation", "deviation_number", "recorded_at"]


class BatchDetailSerializer(BatchSerializer):
    steps = StepSerializer(many=True)
    exception_list = ExceptionSerializer(many=True)

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "steps", "exception_list"]


class OperationSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    awaiting_verification = serializers.IntegerField()
    not_applicable = serializers.IntegerField()


class NextStepSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    code = serializers.CharField(source="step.code")
    title = serializers.CharField(source="step.title")
    sequence = serializers.IntegerField()
    revision = serializers.IntegerField()


class ChecksSerializer(serializers.Serializer):
    label_scans_matched = serializers.IntegerField()
    lots_verified = serializers.IntegerField()
    equipment_verified = serializers.IntegerField()
    values_in_limits = serializers.IntegerField()
    values_checked = serializers.IntegerField(help_text="Current values that have limits.")


class ProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    awaiting_verification = serializers.IntegerField()
    operations = OperationSerializer(many=True)
    next_steps = NextStepSerializer(many=True)
    exceptions = serializers.IntegerField()
    exceptions_by_kind = serializers.DictField(child=serializers.IntegerField())
    open_stop = serializers.BooleanField()
    passed_checks = ChecksSerializer()


# --- what is asked ---------------------------------------------------------------------------

def _text(max_length: int, **kwargs):
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True,
                                 default="", **kwargs)


class SignedSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, max_length=256, trim_whitespace=False,
                                     style={"input_type": "password"},
                                     help_text="The signer's password (electronic signature).")
    revision = serializers.IntegerField(min_value=0, max_value=MAX_INT,
                                        help_text="The step's revision the caller last read.")


class LotSerializer(serializers.Serializer):
    material_code = serializers.CharField(max_length=32)
    scan = serializers.CharField(max_length=200)
    quantity = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0,
                                        required=False, allow_null=True, default=None,
                                        help_text="Defaults to the master record's quantity.")
    substitution_reason = _text(2000)


class PerformSerializer(SignedSerializer):
    values = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False,
        default=dict, help_text="Each field's key and the value entered, as text.")
    label_scan = _text(200)
    lots = serializers.ListField(child=LotSerializer(), required=False, default=list,
                                 max_length=50)
    equipment_scan = _text(200)
    comment = _text(2000)

    def validate_values(self, values):
        if len(values) > 200:
            raise serializers.ValidationError("At most 200 values.")
        return values


class NotApplicableSerializer(SignedSerializer):
    reason = serializers.CharField(max_length=2000)


class CorrectionSerializer(SignedSerializer):
    field_key = serializers.CharField(max_length=48)
    value = serializers.CharField(max_length=500)
    reason = serializers.CharField(max_length=2000)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000)


RUN_ID = OpenApiParameter("run_id", int, OpenApiParameter.PATH, description="The step's id.")
TERMINAL = OpenApiParameter(TERMINAL_HEADER, str, OpenApiParameter.HEADER,
                            description="The registered terminal's secret.")


def _step_action(name: str, url: str):
    return action(detail=True, methods=["post"], url_path=rf"steps/(?P<run_id>[0-9]+)/{url}",
                  url_name=f"step-{name}")


# --- the views -------------------------------------------------------------------------------

class BatchViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = BatchSerializer
    queryset = Batch.objects.none()
    permission_classes = [Allowed]
    parser_classes = [StrictJSONParser]
    write_permissions = {"perform": PERFORM, "not_applicable": PERFORM,
                         "corrections": PERFORM, "verify": VERIFY}

    def get_queryset(self):
        if self.action not in ("list", "retrieve"):
            return reads.batches_for(self.request.user)
        batches = reads.with_counts(reads.batches_for(self.request.user))
        if self.action != "list":
            return batches
        params = self.request.query_params
        wanted = params.get("status", "")
        if wanted:
            if wanted not in BatchStatus.values:
                raise serializers.ValidationError({"status": ["Unknown status."]})
            batches = batches.filter(status=wanted)
        coi = params.get("coi", "").strip()
        if coi:
            batches = batches.filter(Q(patient__coi__iexact=reads.coi_query(coi))
                                     | Q(patient__coi__iexact=coi))
        return batches.order_by("-opened_at", "-pk")

    @extend_schema(parameters=[
        OpenApiParameter("status", str, enum=BatchStatus.values),
        OpenApiParameter("coi", str, description="The patient's COI (as read or scanned)."),
    ])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: BatchDetailSerializer})
    def retrieve(self, request, *args, **kwargs):
        batch = self.get_object()
        runs = reads.runs_of(batch)
        values = reads.current_values(reads.values_of(batch))
        data = BatchSerializer(batch).data
        data["steps"] = StepSerializer(
            [{"run": run, "values": values.get(run.pk, [])} for run in runs], many=True).data
        data["exception_list"] = ExceptionSerializer(
            BatchException.objects.filter(batch=batch)
            .select_related("run__step", "actor", "second_person", "deviation")
            .order_by("recorded_at", "pk"), many=True).data
        return Response(data)

    @extend_schema(responses={200: ProgressSerializer})
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        batch = self.get_object()
        view = reads.overview(request.user, batch)
        operations = view.operations
        return Response(ProgressSerializer({
            "id": batch.pk, "number": batch.number, "status": batch.status,
            "total": sum(op.total for op in operations),
            "done": sum(op.done for op in operations),
            "awaiting_verification": sum(op.awaiting_verification for op in operations),
            "operations": operations, "next_steps": view.next_steps,
            "exceptions": len(view.exceptions), "exceptions_by_kind": view.exception_counts,
            "open_stop": view.open_stop is not None, "passed_checks": view.passed_checks,
        }).data)

    # --- step actions ---------------------------------------------------------------------

    def _run(self, run_id) -> StepRun:
        batch = self.get_object()
        run = StepRun.objects.filter(batch=batch, pk=run_id).first()
        if run is None:
            raise NotFound("No such step in this batch.")
        return run

    def _incoming(self, serializer_class):
        incoming = serializer_class(data=self.request.data)
        incoming.is_valid(raise_exception=True)
        return incoming.validated_data

    def _signing(self, data) -> dict:
        request = self.request._request
        return {"actor": self.request.user, "password": data["password"],
                "revision": data["revision"], "terminal": terminal_for_request(request),
                "request": request}

    def _step(self, run_pk: int, code=status.HTTP_200_OK) -> Response:
        run = (StepRun.objects.select_related("step__operation", "performed_by", "verified_by")
               .get(pk=run_pk))
        values = reads.current_values(list(
            run.values.select_related("field", "entered_by", "run__step").order_by("pk")))
        return Response(StepSerializer({"run": run, "values": values.get(run.pk, [])}).data,
                        status=code)

    @extend_schema(request=PerformSerializer, responses={200: StepSerializer},
                   parameters=[RUN_ID, TERMINAL])
    @_step_action("perform", "perform")
    @idempotent
    def perform(self, request, pk=None, run_id=None):
        """Sign a step as performed, with its values and scans (every check runs first)."""
        run = self._run(run_id)
        data = self._incoming(PerformSerializer)
        lots = [LotScan(**lot) for lot in data["lots"]]
        execution.perform_step(run=run, values=data["values"], label_scan=data["label_scan"],
                               lots=lots, equipment_scan=data["equipment_scan"],
                               comment=data["comment"], **self._signing(data))
        return self._step(run.pk)

    @extend_schema(request=SignedSerializer, responses={200: StepSerializer},
                   parameters=[RUN_ID, TERMINAL])
    @_step_action("verify", "verify")
    @idempotent
    def verify(self, request, pk=None, run_id=None):
        """A second person verifies a performed step (never its performer)."""
        run = self._run(run_id)
        data = self._incoming(SignedSerializer)
        execution.verify_step(run=run, **self._signing(data))
        return self._step(run.pk)

    @extend_schema(request=NotApplicableSerializer, responses={200: StepSerializer},
                   parameters=[RUN_ID, TERMINAL])
    @_step_action("not_applicable", "not-applicable")
    @idempotent
    def not_applicable(self, request, pk=None, run_id=None):
        """Skip a step the master record allows to be not applicable, with a reason."""
        run = self._run(run_id)
        data = self._incoming(NotApplicableSerializer)
        execution.mark_not_applicable(run=run, reason=data["reason"], **self._signing(data))
        return self._step(run.pk)

    @extend_schema(request=CorrectionSerializer, responses={201: StepSerializer},
                   parameters=[RUN_ID, TERMINAL])
    @_step_action("corrections", "corrections")
    @idempotent
    def corrections(self, request, pk=None, run_id=None):
        """Correct a signed step's value with a reason and a signature; the original stays
        and the step is signed again (it goes back to pending)."""
        run = self._run(run_id)
        data = self._incoming(CorrectionSerializer)
        corrections.correct_value(run=run, field_key=data["field_key"], value=data["value"],
                                  reason=data["reason"], **self._signing(data))
        return self._step(run.pk, status.HTTP_201_CREATED)

    @extend_schema(request=CommentSerializer, responses={201: ExceptionSerializer},
                   parameters=[RUN_ID])
    @_step_action("comments", "comments")
    @idempotent
    def comments(self, request, pk=None, run_id=None):
        """Add a comment to any step (recorded as an exception for the review)."""
        run = self._run(run_id)
        data = self._incoming(CommentSerializer)
        comment = execution.add_comment(actor=request.user, run=run, text=data["comment"])
        comment = (BatchException.objects.select_related("run__step", "actor", "second_person",
                                                         "deviation").get(pk=comment.pk))
        return Response(ExceptionSerializer(comment).data, status=status.HTTP_201_CREATED)

