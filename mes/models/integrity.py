"""The sealed audit trail and the integrity checks' results.

Every minute the rows written to append-only tables since the last seal are sealed: each row's
canonical content is digested, the digests of each table form a root, and the seal (roots,
ranges, the previous seal's hash) is signed with the installation's Ed25519 key. Seals are
append-only and chained, so a database owner who rewrites, removes or back-dates a sealed row
is found by ``verify_audit_trail``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from mes.models.base import AppendOnly, GMPModel


class AuditSeal(AppendOnly, GMPModel):
    number = models.PositiveBigIntegerField(unique=True)
    sealed_at = models.DateTimeField(default=timezone.now, db_index=True)
    previous_sealed_at = models.DateTimeField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    # {table: {"after": pk, "through": pk, "rows": n, "late": n, "root": sha256 hex}}
    manifest = models.JSONField()
    row_count = models.PositiveIntegerField()
    seal_hash = models.CharField(max_length=64, unique=True)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"Seal {self.number}"


class AuditSealLeaves(AppendOnly, GMPModel):
    """One table's rows in one seal: the primary keys present in the seal's range (as runs),
    those that filled an earlier seal's gap (a transaction that committed late), and a 16-byte
    digest per row in that order."""

    seal = models.ForeignKey(AuditSeal, on_delete=models.PROTECT, related_name="leaves")
    table = models.CharField(max_length=63)
    after = models.BigIntegerField()  # the range (after, through] of primary keys
    through = models.BigIntegerField()
    runs = models.JSONField(default=list)
    digests = models.BinaryField()
    late = models.JSONField(default=list)
    late_digests = models.BinaryField(default=b"")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["seal", "table"],
                                               name="mes_one_leaves_per_seal_table")]
        indexes = [models.Index(fields=["table", "through"], name="mes_leaves_table_through")]

    def __str__(self) -> str:
        return f"{self.table} in seal {self.seal_id}"


class IntegrityRun(AppendOnly, GMPModel):
    """One run of the audit-trail verification or of the full integrity check."""

    class Kind(models.TextChoices):
        AUDIT_TRAIL = "audit_trail", "Audit-trail verification"
        INTEGRITY_CHECK = "integrity_check", "Integrity check"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(default=timezone.now, db_index=True)
    run_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="integrity_runs")
    seals_checked = models.PositiveIntegerField(default=0)
    rows_checked = models.PositiveBigIntegerField(default=0)
    finding_count = models.PositiveIntegerField(default=0)
    # The first findings (kind, table, pk, detail); the count says how many there were.
    findings = models.JSONField(default=list)

    class Meta:
        ordering = ["-finished_at", "-pk"]
        permissions = [("run_integrity_check", "Can run the data integrity check")]

    @property
    def ok(self) -> bool:
        return self.finding_count == 0

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.finished_at:%Y-%m-%d %H:%M}"
