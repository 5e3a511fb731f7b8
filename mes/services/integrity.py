"""The integrity check (nightly, and on QA's button) and the audit-trail verification.

The check compares every tracked live row with its latest history snapshot (a raw-SQL change
leaves none), verifies every signature against its record, verifies the seals, and runs the
checks other apps register (stock against its ledger). Everything streams, so memory stays
bounded at millions of rows. Any finding becomes a security event, tells QA and, through the
handlers other apps register, raises a deviation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from django.apps import apps as live_apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from mes import audit
from mes.apps import OUR_APPS
from mes.models import ElectronicSignature, IntegrityRun, SecurityEvent, User
from mes.models.base import REASON_EXEMPT_FIELDS, TrackedModel
from mes.services.notifications import notify
from mes.services.signatures import verify_against
from mes.services.verification import Finding, Tally, verify_audit_trail

STORED_FINDINGS = 200

# Other apps' checks: ``check(tally) -> Iterable[Finding]`` (reagents: stock against ledger).
_checks: list[Callable[[Tally], Iterable[Finding]]] = []
# Other apps' reactions to a run with findings: ``handler(run)`` (deviations: raise one).
_finding_handlers: list[Callable[[IntegrityRun], None]] = []


def register_integrity_check(check) -> None:
    if check not in _checks:
        _checks.append(check)


def register_finding_handler(handler) -> None:
    if handler not in _finding_handlers:
        _finding_handlers.append(handler)


def tracked_models() -> list:
    return [m for m in live_apps.get_models()
            if m._meta.app_label in OUR_APPS and issubclass(m, TrackedModel)]


def live_rows_match_history(tally: Tally) -> Iterator[Finding]:
    """Each live row equals its latest history snapshot, and has one."""
    for model in tracked_models():
        history = model.history.model
        table = model._meta.db_table
        pk = model._meta.pk.attname
        kept = {f.attname for f in history._meta.concrete_fields}
        names = [f.attname for f in model._meta.concrete_fields
                 if f.attname in kept and f.name not in REASON_EXEMPT_FIELDS]
        pk_index = names.index(pk)
        live = model._base_manager.order_by(pk).values_list(*names).iterator(chunk_size=2000)
        snapshots = (history._base_manager.order_by(pk, "-history_id")
                     .values_list("history_type", *names).iterator(chunk_size=2000))
        latest = _first_per_key(snapshots, key_index=1 + pk_index)
        snapshot = next(latest, None)
        for row in live:
            tally.rows += 1
            key = row[pk_index]
            while snapshot is not None and snapshot[1 + pk_index] < key:
                snapshot = next(latest, None)  # deleted records (operational rows) end in "-"
            if snapshot is None or snapshot[1 + pk_index] != key:
                yield Finding("row_without_history", f"{table} row {key} has no history: it "
                              "was written around the audit trail.", table=table, pk=key)
                continue
            if snapshot[0] == "-" or tuple(snapshot[1:]) != tuple(row):
                changed = [n for n, a, b in zip(names, row, snapshot[1:], strict=True) if a != b]
                yield Finding("row_differs_from_history", f"{table} row {key} differs from its "
                              f"latest history in {', '.join(changed) or 'its deletion'}: it "
                              "was changed without an audit-trail entry.", table=table, pk=key)
            snapshot = next(latest, None)


def _first_per_key(rows, *, key_index: int):
    previous = object()
    for row in rows:
        if row[key_index] != previous:
            previous = row[key_index]
            yield row


def signatures_verify(tally: Tally) -> Iterator[Finding]:
    """Every signature against its record, a content type and a chunk of records at a time."""
    type_ids = (ElectronicSignature.objects.order_by().values_list("content_type_id", flat=True)
                .distinct())
    for type_id in list(type_ids):
        model = ContentType.objects.get_for_id(type_id).model_class()
        signatures = (ElectronicSignature.objects.filter(content_type_id=type_id)
                      .order_by("object_id", "pk").iterator(chunk_size=500))
        while chunk := list(islice(signatures, 500)):
            records = model._base_manager.in_bulk({s.object_id for s in chunk}) if model else {}
            for signature in chunk:
                tally.rows += 1
                record = records.get(signature.object_id)
                if record is None:
                    detail = "the signed record no longer exists"
                elif (not verify_against(signature, record).valid
                      and not record.signature_superseded(signature)):
                    detail = "the record was changed after it was signed"
                else:
                    continue
                yield Finding("signature_broken", f"Signature {signature.pk} "
                              f"({signature.printed_name}, {signature.meaning}): {detail}.",
                              table=ElectronicSignature._meta.db_table, pk=signature.pk)


def _record(kind: str, findings: Iterable[Finding], tally: Tally, *, user,
            started_at) -> IntegrityRun:
    stored, count = [], 0
    for finding in findings:
        count += 1
        if len(stored) < STORED_FINDINGS:
            stored.append(finding.as_dict())
    with transaction.atomic(), audit.acting_as(user):
        run = IntegrityRun.objects.create(
            kind=kind, started_at=started_at, finished_at=timezone.now(), run_by=user,
            seals_checked=tally.seals, rows_checked=tally.rows, finding_count=count,
            findings=stored)
        if count:
            _report(run)
    return run


def _report(run: IntegrityRun) -> None:
    kinds = sorted({f["kind"] for f in run.findings})
    SecurityEvent.objects.create(
        kind=SecurityEvent.Kind.INTEGRITY_FINDING, username=run.run_by.username,
        user=run.run_by,
        detail=f"{run.get_kind_display()} found {run.finding_count} differences "
               f"({', '.join(kinds)}). First: {run.findings[0]['detail']}")
    notify(recipients=User.objects.filter(groups__name="QA Reviewer", is_active=True),
           subject=f"Data integrity: {run.finding_count} differences found",
           body=(f"The {run.get_kind_display().lower()} of {run.finished_at:%Y-%m-%d %H:%M} UTC "
                 f"found {run.finding_count} differences ({', '.join(kinds)}). Review them on "
                 "the security page."),
           link="/security/")
    for handler in _finding_handlers:
        handler(run)


def record_verification(*, user) -> IntegrityRun:
    """Verify the sealed audit trail and record the run."""
    started_at, tally = timezone.now(), Tally()
    return _record(IntegrityRun.Kind.AUDIT_TRAIL, verify_audit_trail(tally), tally, user=user,
                   started_at=started_at)


def run_integrity_check(*, user) -> IntegrityRun:
    """Live rows against history, signatures, seals and every registered check."""
    started_at, tally = timezone.now(), Tally()

    def everything() -> Iterator[Finding]:
        yield from live_rows_match_history(tally)
        yield from signatures_verify(tally)
        yield from verify_audit_trail(tally)
        for check in _checks:
            yield from check(tally)

    return _record(IntegrityRun.Kind.INTEGRITY_CHECK, everything(), tally, user=user,
                   started_at=started_at)
