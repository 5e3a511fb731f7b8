"""Reads of patients' batch records for the QA list, the batch overview and the batches API.

Every read is narrowed to the person's sites first (another site's batch is a 404). The list
is one annotated query whatever the number of batches; the overview loads each kind of row of
a batch once (steps, values, scans, exceptions, stops, deviations, follow-up batches) and
assembles the rest in Python, so its number of queries does not grow with the steps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from batchrecords import selectors
from batchrecords.models import (
    Batch,
    BatchException,
    BatchStatus,
    BatchStop,
    StepRun,
    StepScan,
    StepStatus,
    StepValue,
)
from custody import din as isbt
from deviations.models import Deviation

# A step counts as done when it needs nothing more: signed (and verified where required) or
# not applicable. A step performed but awaiting its second person is shown apart.
COMPLETE = (StepStatus.DONE, StepStatus.NOT_APPLICABLE)
UNFINISHED = (StepStatus.PENDING,)
# A batch in one of these needs no more decision at the suite or in review.
CLOSED = (BatchStatus.RELEASED, BatchStatus.REJECTED, BatchStatus.CANCELLED)


def batches_for(user) -> QuerySet[Batch]:
    return Batch.objects.visible_to(user).select_related(
        "site", "patient", "version__master__product", "booking__suite")


def _count(model, **filters):
    """A per-batch count as a subquery (two counts joined in one query would multiply)."""
    rows = (model.objects.filter(batch=OuterRef("pk"), **filters).order_by()
            .values("batch").annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def with_counts(batches: QuerySet[Batch]) -> QuerySet[Batch]:
    """Each batch with what the list shows about it: an open stop, a flagged entry, its
    exceptions, its steps done and in all."""
    return batches.annotate(
        open_stop=Exists(BatchStop.objects.filter(batch=OuterRef("pk"),
                                                  cleared_at__isnull=True)),
        has_flag=Exists(StepRun.objects.filter(batch=OuterRef("pk"), flagged=True)),
        exception_count=_count(BatchException),
        steps_total=_count(StepRun),
        steps_done=_count(StepRun, status__in=COMPLETE),
    )


def coi_query(text: str) -> str:
    """What a person typed or scanned to find a patient, as the COI is stored."""
    # coi_text boxes the check character in brackets: "G1234 26 000013 00 [K]"
    text = (text or "").strip().replace("[", "").replace("]", "")
    try:
        return isbt.parse(text).din
    except isbt.InvalidScan:
        return "".join(text.split()).upper()


def batch_list(user, *, status: str = "", suite=None, product=None,
               query: str = "") -> QuerySet[Batch]:
    """The QA list: what needs a decision first (an open stop; then, among the batches not
    yet released, rejected or cancelled, a flagged entry, then the most exceptions), newest
    first after that."""
    batches = with_counts(batches_for(user)).annotate(
        closed=Case(When(status__in=CLOSED, then=Value(True)), default=Value(False),
                    output_field=BooleanField()))
    if status:
        batches = batches.filter(status=status)
    if suite is not None:
        batches = batches.filter(booking__suite=suite)
    if product is not None:
        batches = batches.filter(version__master__product=product)
    query = (query or "").strip()
    if query:
        batches = batches.filter(Q(number__icontains=query)
                                 | Q(patient__coi__icontains=coi_query(query)))
    return batches.order_by("-open_stop", "closed", "-has_flag", "-exception_count",
                            "-opened_at", "-pk")


def batch_for(user, pk) -> Batch:
    return get_object_or_404(
        batches_for(user).select_related("previous", "opened_by"), pk=pk)


# --- the overview ----------------------------------------------------------------------------

@dataclass
class OperationProgress:
    code: str
    name: str
    position: int
    total: int = 0
    done: int = 0
    awaiting_verification: int = 0
    not_applicable: int = 0


@dataclass
class ValueEntry:
    """A value as it stands now, with the values it replaced (oldest first)."""

    current: StepValue
    earlier: list[StepValue] = field(default_factory=list)


@dataclass
class Overview:
    batch: Batch
    runs: list[StepRun]
    values: dict[int, list[ValueEntry]]
    scans: list[StepScan]
    exceptions: list[BatchException]
    stops: list[BatchStop]
    deviations: list[Deviation]
    followed_by: list[Batch]
    all_values: list[StepValue]
    # What was verified automatically and passed (batchrecords.selectors.passed_checks).
    passed_checks: dict[str, int]

    @property
    def open_stop(self) -> BatchStop | None:
        return next((stop for stop in self.stops if stop.cleared_at is None), None)

    @property
    def operations(self) -> list[OperationProgress]:
        return progress_by_operation(self.runs)

    @property
    def next_steps(self) -> list[StepRun]:
        return next_steps(self.runs)

    @property
    def exception_counts(self) -> dict[str, int]:
        return dict(Counter(exception.kind for exception in self.exceptions))

    def flagged_values(self) -> list[StepValue]:
        """Values with a flag and corrections (the corrected value is ``corrects``)."""
        return [value for value in self.all_values if value.flag or value.corrects_id]


def runs_of(batch: Batch) -> list[StepRun]:
    return list(StepRun.objects.filter(batch=batch)
                .select_related("step__operation", "performed_by", "verified_by")
                .order_by("sequence"))


def values_of(batch: Batch) -> list[StepValue]:
    return list(StepValue.objects.filter(run__batch=batch)
                .select_related("field", "entered_by", "run__step").order_by("pk"))


def current_values(values: list[StepValue]) -> dict[int, list[ValueEntry]]:
    """For each step run, its values as they stand, each with the originals it corrected
    (a correction is a new row naming the one it corrects; the original is never changed)."""
    by_pk = {value.pk: value for value in values}
    for value in values:  # the corrected value from the rows loaded, not one query each
        if value.corrects_id in by_pk:
            value.corrects = by_pk[value.corrects_id]
    corrected = {value.corrects_id for value in values if value.corrects_id}
    result: dict[int, list[ValueEntry]] = defaultdict(list)
    for value in values:
        if value.pk in corrected:
            continue
        earlier, previous = [], value.corrects_id
        while previous is not None and previous in by_pk:
            earlier.append(by_pk[previous])
            previous = by_pk[previous].corrects_id
        result[value.run_id].append(ValueEntry(current=value, earlier=earlier[::-1]))
    return dict(result)


def progress_by_operation(runs: list[StepRun]) -> list[OperationProgress]:
    operations: dict[int, OperationProgress] = {}
    for run in runs:
        operation = run.step.operation
        entry = operations.get(operation.pk)
        if entry is None:
            entry = operations[operation.pk] = OperationProgress(
                code=operation.code, name=operation.name, position=operation.position)
        entry.total += 1
        if run.status in COMPLETE:
            entry.done += 1
        if run.status == StepStatus.NOT_APPLICABLE:
            entry.not_applicable += 1
        if run.status == StepStatus.PERFORMED:
            entry.awaiting_verification += 1
    return sorted(operations.values(), key=lambda entry: entry.position)


def next_steps(runs: list[StepRun]) -> list[StepRun]:
    """The steps that may be performed next: the pending steps of the first stage that still
    has one (a step awaiting verification lets the sequence go on)."""
    pending = [run for run in runs if run.status in UNFINISHED]
    if not pending:
        return []
    stage = min(run.stage for run in pending)
    return [run for run in pending if run.stage == stage]


def overview(user, batch: Batch) -> Overview:
    """Everything the overview shows about ``batch`` (a batch ``batch_for`` gave), in a fixed
    number of queries."""
    values = values_of(batch)
    exceptions = list(
        BatchException.objects.filter(batch=batch)
        .select_related("run__step", "actor", "second_person", "deviation")
        .order_by("recorded_at", "pk"))
    deviation_ids = {exception.deviation_id for exception in exceptions
                     if exception.deviation_id}
    deviations = list(
        Deviation.objects.visible_to(user)
        .filter(Q(pk__in=sorted(deviation_ids)) | Q(batch_number=batch.number))
        .only("number", "title", "classification", "status", "patient_impact",
              "detected_at", "site_id")
        .order_by("detected_at", "pk"))
    return Overview(
        batch=batch,
        runs=runs_of(batch),
        values=current_values(values),
        all_values=values,
        scans=list(StepScan.objects.filter(run__batch=batch)
                   .select_related("run__step", "lot__material", "material",
                                   "equipment__equipment_type", "scanned_by")
                   .order_by("scanned_at", "pk")),
        exceptions=exceptions,
        stops=list(BatchStop.objects.filter(batch=batch).select_related("cleared_by")
                   .order_by("-raised_at")),
        deviations=deviations,
        followed_by=list(Batch.objects.visible_to(user).filter(previous=batch)
                         .order_by("opened_at", "pk")),
        passed_checks=selectors.passed_checks(batch),
    )
