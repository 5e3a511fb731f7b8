"""Sealing the append-only tables (a beat task every minute).

Each run takes, for every append-only table, the rows written since that table's last seal
(primary keys above its watermark) and the rows that filled a recent seal's gap (a transaction
that was still open when that seal was made). Each row's canonical content becomes a 16-byte
digest; a table's runs of keys and its digests give its root; the seal chains the previous
seal's hash and is signed with the installation's Ed25519 key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from mes.db import append_only_models
from mes.models import AuditSeal, AuditSealLeaves
from mes.services import sealkey

DIGEST_BYTES = 16
SEAL_LOCK = 0x6D65735F7365616C & 0x7FFFFFFFFFFFFFFF  # "mes_seal"
# The seal's own tables are protected by the chain and the signature, not by sealing them.
UNSEALED_TABLES = frozenset({"mes_auditseal", "mes_auditsealleaves", "mes_historicalauditseal",
                             "mes_historicalauditsealleaves"})


def sealed_models() -> list[type[models.Model]]:
    return [m for m in append_only_models() if m._meta.db_table not in UNSEALED_TABLES]


def _canonical(value):
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value).hex()
    raise TypeError(f"No canonical form for {type(value).__name__}")


def canonical_json(data) -> bytes:
    return json.dumps(data, default=_canonical, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def row_digest(table: str, values: Iterable) -> bytes:
    return hashlib.sha256(canonical_json([table, *values])).digest()[:DIGEST_BYTES]


def columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def stream_rows(model, condition: models.Q, *, limit: int | None = None) -> Iterator[tuple]:
    """(pk, digest, values) in primary-key order, a chunk at a time."""
    table = model._meta.db_table
    names = columns(model)
    pk_index = names.index(model._meta.pk.attname)
    rows = model._base_manager.filter(condition).order_by("pk").values_list(*names)
    if limit is not None:
        rows = rows[:limit]
    for values in rows.iterator(chunk_size=2000):
        yield values[pk_index], row_digest(table, values), values


def runs_of(keys: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for key in keys:
        if runs and runs[-1][1] == key - 1:
            runs[-1][1] = key
        else:
            runs.append([key, key])
    return runs


def leaves_root(table: str, after: int, through: int, runs, late, digests: bytes,
                late_digests: bytes) -> str:
    head = canonical_json([table, after, through, runs, late])
    return hashlib.sha256(head + bytes(digests) + bytes(late_digests)).hexdigest()


def seal_hash(seal: AuditSeal) -> str:
    return hashlib.sha256(canonical_json({
        "number": seal.number,
        "sealed_at": seal.sealed_at,
        "previous_sealed_at": seal.previous_sealed_at,
        "previous_hash": seal.previous_hash,
        "manifest": seal.manifest,
        "row_count": seal.row_count,
        "key_id": seal.key_id,
    })).hexdigest()


def _open_gaps(table: str, since) -> tuple[list[tuple[int, int]], set[int]]:
    """Key ranges of recent seals of ``table`` that held no row when sealed and have not been
    filled since, and the keys already sealed late."""
    recent = list(AuditSealLeaves.objects.filter(table=table, seal__sealed_at__gte=since)
                  .values_list("after", "through", "runs", "late"))
    gaps: list[tuple[int, int]] = []
    filled: set[int] = set()
    for after, through, runs, late in recent:
        filled.update(late)
        cursor = after + 1
        for first, last in runs:
            if first > cursor:
                gaps.append((cursor, first - 1))
            cursor = last + 1
        if cursor <= through:
            gaps.append((cursor, through))
    return gaps, filled


def _seal_table(model, now) -> AuditSealLeaves | None:
    table = model._meta.db_table
    after = (AuditSealLeaves.objects.filter(table=table).aggregate(m=Max("through"))["m"] or 0)
    keys: list[int] = []
    digests = bytearray()
    for key, digest, _values in stream_rows(model, models.Q(pk__gt=after),
                                            limit=settings.AUDIT_SEAL_MAX_ROWS):
        keys.append(key)
        digests += digest
    late: list[int] = []
    late_digests = bytearray()
    gaps, filled = _open_gaps(table, now - dt.timedelta(
        minutes=settings.AUDIT_SEAL_GAP_WINDOW_MINUTES))
    if gaps:
        in_gaps = models.Q()
        for first, last in gaps:
            in_gaps |= models.Q(pk__range=(first, last))
        for key, digest, _values in stream_rows(model, in_gaps & ~models.Q(pk__in=filled)):
            late.append(key)
            late_digests += digest
    if not keys and not late:
        return None
    through = keys[-1] if keys else after
    runs = runs_of(keys)
    return AuditSealLeaves(table=table, after=after, through=through, runs=runs,
                           digests=bytes(digests), late=late, late_digests=bytes(late_digests))


@transaction.atomic
def seal_audit_trail(*, user) -> AuditSeal | None:
    """Seal what was written since the last seal; None when there is nothing new (or another
    process is sealing right now)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEAL_LOCK])
            if not cursor.fetchone()[0]:
                return None
    now = timezone.now()
    leaves = [found for model in sealed_models() if (found := _seal_table(model, now))]
    if not leaves:
        return None
    previous = AuditSeal.objects.order_by("-number").first()
    manifest = {
        leaf.table: {
            "after": leaf.after, "through": leaf.through,
            "rows": len(leaf.digests) // DIGEST_BYTES, "late": len(leaf.late),
            "root": leaves_root(leaf.table, leaf.after, leaf.through, leaf.runs, leaf.late,
                                leaf.digests, leaf.late_digests),
        }
        for leaf in leaves
    }
    key = sealkey.installation_key()
    seal = AuditSeal(
        number=(previous.number + 1) if previous else 1,
        sealed_at=now,
        previous_sealed_at=previous.sealed_at if previous else None,
        previous_hash=previous.seal_hash if previous else "",
        manifest=manifest,
        row_count=sum(entry["rows"] + entry["late"] for entry in manifest.values()),
        key_id=sealkey.key_id(key),
    )
    seal.seal_hash = seal_hash(seal)
    seal.signature = key.sign(seal.seal_hash.encode()).hex()
    seal._history_user = user
    seal.save()
    for leaf in leaves:
        leaf.seal = seal
        leaf._history_user = user
        leaf.save()
    return seal
