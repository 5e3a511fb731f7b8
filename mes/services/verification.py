"""Verifying the sealed audit trail: ``manage.py verify_audit_trail`` and the integrity check.

Everything is recomputed from the database and streamed table by table (memory stays bounded
however many rows there are): the seal chain and each seal's signature, each seal's leaves
against its signed roots, and every sealed row against its digest. It reports each row changed,
deleted, or inserted into a sealed range after sealing, and each row back-dated: written
earlier than the seal before the one that first covers it allows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.db import models

from mes.db import written_at_field
from mes.models import AuditSeal, AuditSealLeaves
from mes.services import sealkey
from mes.services.sealing import (
    DIGEST_BYTES,
    leaves_root,
    seal_hash,
    sealed_models,
    stream_rows,
)


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    table: str = ""
    pk: int | None = None
    seal: int | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Tally:
    seals: int = 0
    rows: int = 0


def verify_seal_chain(tally: Tally) -> Iterator[Finding]:
    expected_leaves = 0
    previous = None
    fields = ("number", "sealed_at", "previous_sealed_at", "previous_hash", "manifest",
              "row_count", "key_id", "seal_hash", "signature")
    for seal in AuditSeal.objects.order_by("number").only(*fields).iterator(chunk_size=500):
        tally.seals += 1
        expected_leaves += len(seal.manifest)
        if previous is None and seal.number != 1:
            yield Finding("seal_missing", f"The first seal is number {seal.number}, not 1.",
                          seal=seal.number)
        if previous is not None:
            if seal.number != previous.number + 1:
                yield Finding("seal_missing", f"Seals {previous.number + 1}–{seal.number - 1} "
                              "are missing from the chain.", seal=seal.number)
            if (seal.previous_hash != previous.seal_hash
                    or seal.previous_sealed_at != previous.sealed_at):
                yield Finding("seal_chain_broken", f"Seal {seal.number} does not follow seal "
                              f"{previous.number}.", seal=seal.number)
        if seal_hash(seal) != seal.seal_hash:
            yield Finding("seal_changed", f"Seal {seal.number}'s content no longer matches its "
                          "hash.", seal=seal.number)
        elif (seal.key_id != sealkey.key_id()
              or not sealkey.signature_is_valid(seal.seal_hash.encode(), seal.signature)):
            yield Finding("seal_signature_invalid", f"Seal {seal.number} is not signed by this "
                          "installation's key.", seal=seal.number)
        previous = seal
    leaves = AuditSealLeaves.objects.count()
    if leaves != expected_leaves:
        yield Finding("seal_leaves_missing", f"The seals name {expected_leaves} table entries; "
                      f"{leaves} are stored.")


def _expected(table: str, extra: dict) -> Iterator[tuple[int, bytes, int, dt.datetime | None]]:
    """(pk, digest, seal number, previous seal time) of a table's sealed rows, in key order,
    checking each leaves record against its seal's signed root on the way."""
    records = (AuditSealLeaves.objects.filter(table=table).order_by("through", "seal__number")
               .values_list("seal__number", "seal__previous_sealed_at", "seal__manifest",
                            "after", "through", "runs", "digests", "late", "late_digests")
               .iterator(chunk_size=50))
    for number, previous_at, manifest, after, through, runs, digests, late, late_digests in records:
        digests, late_digests = bytes(digests), bytes(late_digests)
        signed = (manifest or {}).get(table, {}).get("root")
        if signed != leaves_root(table, after, through, runs, late, digests, late_digests):
            extra.setdefault("broken", []).append(Finding(
                "seal_leaves_changed", f"The stored digests of {table} in seal {number} no "
                "longer match the signed root.", table=table, seal=number))
        offset = 0
        for first, last in runs:
            for key in range(first, last + 1):
                yield key, digests[offset:offset + DIGEST_BYTES], number, previous_at
                offset += DIGEST_BYTES


def verify_table(model, tally: Tally) -> Iterator[Finding]:
    table = model._meta.db_table
    written_at = written_at_field(model)
    grace = dt.timedelta(seconds=settings.AUDIT_SEAL_BACKDATE_GRACE_SECONDS)
    names = [f.attname for f in model._meta.concrete_fields]
    at_index = names.index(model._meta.get_field(written_at).attname) if written_at else None
    last_through = (AuditSealLeaves.objects.filter(table=table)
                    .aggregate(m=models.Max("through"))["m"])
    if last_through is None:
        return
    # Rows sealed late (they filled an earlier seal's gap) come before the main runs in key
    # order, so they are known first; there are few of them.
    extra: dict = {"late": {}}
    late_records = (AuditSealLeaves.objects.filter(table=table).exclude(late_digests=b"")
                    .values_list("seal__number", "seal__previous_sealed_at", "late",
                                 "late_digests"))
    for number, previous_at, late, late_digests in late_records.iterator(chunk_size=50):
        late_digests = bytes(late_digests)
        for i, key in enumerate(late):
            extra["late"][key] = (late_digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES],
                                  number, previous_at)
    expected = _expected(table, extra)
    sentinel = (None, b"", None, None)
    want = next(expected, sentinel)

    def checked(key, digest, values, sealed_digest, number, previous_at):
        if digest != sealed_digest:
            yield Finding("row_changed", f"{table} row {key} was changed after seal {number}.",
                          table=table, pk=key, seal=number)
        if at_index is not None and previous_at is not None:
            at = values[at_index]
            if at is not None and at < previous_at - grace:
                yield Finding("row_backdated", f"{table} row {key} says it was written at "
                              f"{at.isoformat()}, before seal {number - 1} that came before "
                              f"it ({previous_at.isoformat()}).", table=table, pk=key,
                              seal=number)

    for key, digest, values in stream_rows(model, models.Q(pk__lte=last_through)):
        tally.rows += 1
        while want[0] is not None and want[0] < key:
            yield Finding("row_deleted", f"{table} row {want[0]} sealed in seal {want[2]} is "
                          "gone.", table=table, pk=want[0], seal=want[2])
            want = next(expected, sentinel)
        if want[0] == key:
            yield from checked(key, digest, values, want[1], want[2], want[3])
            want = next(expected, sentinel)
            continue
        late = extra["late"].pop(key, None)
        if late is not None:
            yield from checked(key, digest, values, *late)
            continue
        yield Finding("row_inserted_after_sealing", f"{table} row {key} sits in a sealed range "
                      "but no seal covers it.", table=table, pk=key)
    while want[0] is not None:
        yield Finding("row_deleted", f"{table} row {want[0]} sealed in seal {want[2]} is gone.",
                      table=table, pk=want[0], seal=want[2])
        want = next(expected, sentinel)
    for key, (_digest, number, _at) in sorted(extra["late"].items()):
        yield Finding("row_deleted", f"{table} row {key} sealed in seal {number} is gone.",
                      table=table, pk=key, seal=number)
    yield from extra.get("broken", [])


def verify_audit_trail(tally: Tally | None = None) -> Iterator[Finding]:
    """Every finding, streamed; an empty stream means nothing sealed has changed."""
    tally = tally if tally is not None else Tally()
    yield from verify_seal_chain(tally)
    for model in sealed_models():
        yield from verify_table(model, tally)
