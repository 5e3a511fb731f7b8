"""The life of a master record version: draft, review, QA approval (signed, never by the
author) that supersedes the version in force in the same transaction, retirement, and
"new version from" (a copy as a new draft). Import builds a draft from a JSON document."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from batchrecords.exchange import check_document, export_version, path_of, quantized
from batchrecords.models import (
    DataField,
    MasterRecord,
    MasterRecordVersion,
    Operation,
    Step,
    StepMaterial,
    check_transition,
)
from batchrecords.services._common import (
    APPROVE,
    AUTHOR,
    RETIRE,
    require_permission,
    require_reason,
    require_site,
)
from batchrecords.services.registers import (
    UnregisteredCode,
    document_code_errors,
    require_active_product,
)
from custody.models import Product
from mes import audit
from mes.errors import DomainError, SignatureRefused
from mes.models import Meaning, Site, User
from mes.services.signatures import apply_signature, reauthenticate

Status = MasterRecordVersion.Status


def _next_number(master: MasterRecord) -> int:
    return (master.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def _master_for(*, actor: User, product: Product, site: Site, title: str) -> MasterRecord:
    # Lock the master record so two new versions never take the same number.
    master = MasterRecord.objects.select_for_update().filter(product=product, site=site).first()
    if master is None:
        try:  # the first version of a product at a site: another request may create it too
            with transaction.atomic():
                master = MasterRecord(product=product, site=site, title=title)
                audit.stamp(master, user=actor, reason="Master record created")
                master.save()
        except IntegrityError:  # it did, and committed first: use (and lock) that one
            master = MasterRecord.objects.select_for_update().get(product=product, site=site)
    return master


@transaction.atomic
def create_draft(
    *, actor: User, product: Product, site: Site, title: str, change_summary: str = ""
) -> MasterRecordVersion:
    """A new, empty draft version of the product's master record at the site."""
    require_permission(actor, AUTHOR, "author master records")
    require_site(actor, site)
    title = (title or "").strip()
    if not title:
        raise DomainError(
            "A master record needs a title.", code="invalid", fields={"title": ["Required."]}
        )
    require_active_product(Product.objects.get(pk=product.pk))  # as it stands, not as passed
    master = _master_for(actor=actor, product=product, site=site, title=title)
    version = MasterRecordVersion(
        master=master,
        number=_next_number(master),
        title=title,
        change_summary=change_summary,
        author=actor,
    )
    audit.stamp(version, user=actor, reason="Draft created")
    version.save()
    return version


def build_procedure(
    *, actor: User, version: MasterRecordVersion, document: dict, reason: str
) -> None:
    """Create the operations, steps, materials and fields of a checked document."""
    for o, op_data in enumerate(document["operations"], start=1):
        operation = Operation(
            version=version, position=o, code=op_data["code"], name=op_data["name"]
        )
        audit.stamp(operation, user=actor, reason=reason)
        operation.save()
        for s, step_data in enumerate(op_data["steps"], start=1):
            attrs = {k: v for k, v in step_data.items() if k not in ("materials", "fields")}
            step = Step(operation=operation, position=s, **attrs)
            audit.stamp(step, user=actor, reason=reason)
            step.save()
            for m, material in enumerate(step_data["materials"], start=1):
                row = StepMaterial(
                    step=step,
                    position=m,
                    material_code=material["material_code"],
                    quantity=quantized(material["quantity"]),
                    unit=material["unit"],
                    tolerance=quantized(material["tolerance"]),
                )
                audit.stamp(row, user=actor, reason=reason)
                row.save()
            for f, field_data in enumerate(step_data["fields"], start=1):
                values = {
                    k: (quantized(v) if k in _DECIMALS and v is not None else v)
                    for k, v in field_data.items()
                }
                field = DataField(step=step, position=f, **values)
                audit.stamp(field, user=actor, reason=reason)
                field.save()


_DECIMALS = {"target", "alert_low", "alert_high", "action_low", "action_high"}


@transaction.atomic
def import_document(*, actor: User, site: Site, document) -> MasterRecordVersion:
    """A master record document (checked against the JSON Schema) arrives as a draft."""
    require_permission(actor, AUTHOR, "import master records")
    require_site(actor, site)
    document = check_document(document)
    product = Product.objects.filter(code=document["product"]).first()
    if product is None:
        raise DomainError(
            f"There is no product {document['product']}.",
            code="unknown_product",
            fields={"$.product": ["No such product."]},
        )
    require_active_product(product, field="$.product")
    _check_codes(document)
    version = create_draft(
        actor=actor,
        product=product,
        site=site,
        title=document["title"],
        change_summary=document["change_summary"],
    )
    build_procedure(actor=actor, version=version, document=document, reason="Imported")
    return version


def _check_codes(document: dict) -> None:
    errors = document_code_errors(document, path_of)
    if errors:
        raise UnregisteredCode(
            f"The master record names {len(errors)} code{'s' if len(errors) != 1 else ''} "
            "that no register holds as active: " + next(iter(errors.values()))[0],
            fields=errors,
        )


@transaction.atomic
def new_version_from(
    *, actor: User, source: MasterRecordVersion, change_summary: str = ""
) -> MasterRecordVersion:
    """Copy a version (every operation, step, material and field) into a new draft."""
    require_permission(actor, AUTHOR, "author master records")
    master = (
        MasterRecord.objects.select_for_update().select_related("product").get(pk=source.master_id)
    )
    require_site(actor, master.site)
    # A copy keeps the source's codes even where a register has retired one since: the new
    # draft is where they get fixed, and submission checks them again.
    require_active_product(master.product)
    document = export_version(source)
    version = MasterRecordVersion(
        master=master,
        number=_next_number(master),
        title=source.title,
        change_summary=change_summary,
        author=actor,
        based_on=source,
    )
    audit.stamp(version, user=actor, reason=f"New version from v{source.number}")
    version.save()
    build_procedure(
        actor=actor, version=version, document=document, reason=f"Copied from v{source.number}"
    )
    return version


def _locked(version: MasterRecordVersion) -> tuple[MasterRecordVersion, list]:
    """Lock every version of the master record: two approvals at once must not both win."""
    versions = list(
        MasterRecordVersion.objects.select_for_update()
        .filter(master_id=version.master_id)
        .order_by("pk")
    )
    return next(v for v in versions if v.pk == version.pk), versions


@transaction.atomic
def submit_for_review(*, actor: User, version: MasterRecordVersion) -> MasterRecordVersion:
    """A complete, valid draft goes to QA for review."""
    require_permission(actor, AUTHOR, "submit master records for review")
    require_site(actor, version.master.site)
    target, _ = _locked(version)
    check_transition(MasterRecordVersion.ALLOWED, target.status, Status.IN_REVIEW, str(target))
    if target.number > 1 and not target.change_summary.strip():
        raise DomainError(
            f"{target} needs a change summary (what changed since the version before, and "
            "why) before it goes to review.",
            code="change_summary_required",
            fields={"change_summary": ["Say what changed in this version."]},
        )
    require_active_product(target.master.product)
    _check_codes(check_document(export_version(target)))
    target.status = Status.IN_REVIEW
    audit.stamp(target, user=actor, reason="Submitted for review")
    target.save()
    return target


@transaction.atomic
def return_to_draft(
    *, actor: User, version: MasterRecordVersion, reason: str
) -> MasterRecordVersion:
    """QA sends a version in review back to its author."""
    return _move(actor=actor, version=version, permission=APPROVE,
                 what="review master records", status=Status.DRAFT, reason=reason)


def _move(*, actor: User, version: MasterRecordVersion, permission: str, what: str,
          status: str, reason: str) -> MasterRecordVersion:
    """A status change with a reason, under the master record's lock, through the one
    transition table."""
    require_permission(actor, permission, what)
    require_site(actor, version.master.site)
    reason = require_reason(reason)
    target, _ = _locked(version)
    check_transition(MasterRecordVersion.ALLOWED, target.status, status, str(target))
    target.status = status
    audit.stamp(target, user=actor, reason=reason)
    target.save()
    return target


def content_writers(version: MasterRecordVersion) -> set[int]:
    """Everyone who wrote the version's content, read from the history of its header and of
    every operation, step, material and field, so no edit escapes (two queries). Status moves
    (submission, return to draft) are not writing."""
    operations = Operation.objects.filter(version_id=version.pk).values("pk")
    steps = Step.objects.filter(operation__version_id=version.pk).values("pk")
    # (no ORDER BY in the parts: SQLite refuses it in a compound statement)
    writers = set(
        Operation.history.filter(version_id=version.pk)
        .values_list("history_user_id", flat=True).order_by()
        .union(
            Step.history.filter(operation_id__in=operations).values_list(
                "history_user_id", flat=True
            ).order_by(),
            StepMaterial.history.filter(step_id__in=steps).values_list(
                "history_user_id", flat=True
            ).order_by(),
            DataField.history.filter(step_id__in=steps).values_list(
                "history_user_id", flat=True
            ).order_by(),
        )
    )
    previous = None
    for row in MasterRecordVersion.history.filter(id=version.pk).order_by(
        "history_date", "history_id"
    ).values("history_user_id", "history_type", "title", "change_summary"):
        content = (row["title"], row["change_summary"])
        if row["history_type"] == "+" or (previous is not None and content != previous):
            writers.add(row["history_user_id"])
        previous = content
    writers.discard(None)
    return writers


def approval_refusal(user: User, version: MasterRecordVersion) -> DomainError | None:
    """Why ``user`` may not approve ``version`` (checked before any password is asked)."""
    if not user.has_perm(APPROVE):
        return SignatureRefused(f"{user.full_name} is not authorised to approve master records.")
    if not user.has_site(version.master.site):
        return SignatureRefused(
            f"{user.full_name} has no access to site {version.master.site.code}."
        )
    if user.pk == version.author_id:
        return SignatureRefused(
            "The author of a master record version never approves it.", code="author_cannot_approve"
        )
    if user.pk in content_writers(version):
        return SignatureRefused(
            f"{user.full_name} wrote part of {version} (its header, operations, steps, "
            "materials or fields): whoever writes a master record version never approves it.",
            code="editor_cannot_approve",
        )
    if version.status != Status.IN_REVIEW:
        return DomainError(
            f"{version} is {version.get_status_display().lower()}; only a "
            "version in review is approved.",
            code="transition_refused",
            status=409,
        )
    newer = (MasterRecordVersion.objects.filter(
        master_id=version.master_id, status=Status.EFFECTIVE, number__gt=version.number)
        .values_list("number", flat=True).first())
    if newer is not None:
        return DomainError(
            f"{version} is older than v{newer}, which is in force: approving it would bring "
            f"back a superseded procedure. Make a new version from v{newer} instead.",
            code="version_outdated",
            status=409,
        )
    return None


def approve_version(
    *,
    actor: User,
    password: str,
    version: MasterRecordVersion,
    reason: str = "",
    request: HttpRequest | None = None,
) -> MasterRecordVersion:
    """QA signs *approved*: the version becomes effective and the one in force is superseded,
    in one transaction. The author never approves their own version."""
    version = MasterRecordVersion.objects.select_related("master__site").get(pk=version.pk)
    refusal = approval_refusal(actor, version)
    if refusal is not None:
        raise refusal
    signer = reauthenticate(user=actor, password=password, request=request)
    with transaction.atomic():
        target, versions = _locked(version)
        refusal = approval_refusal(signer, target)
        if refusal is not None:
            raise refusal
        for current in versions:
            if current.status == Status.EFFECTIVE:
                current.status = Status.SUPERSEDED
                audit.stamp(current, user=signer, reason=f"Superseded by v{target.number}")
                current.save()
        target.status = Status.EFFECTIVE
        target.approved_by = signer
        target.approved_at = timezone.now()
        audit.stamp(target, user=signer, reason=(reason or "").strip() or "Approved by QA")
        target.save()
        apply_signature(
            signer=signer,
            record=target,
            meaning=Meaning.APPROVED,
            reason=(reason or "").strip() or "Master record version approved",
        )
    return target


@transaction.atomic
def retire_version(
    *, actor: User, version: MasterRecordVersion, reason: str
) -> MasterRecordVersion:
    """Withdraw a version from use (no new batch is opened from it)."""
    return _move(actor=actor, version=version, permission=RETIRE,
                 what="retire master records", status=Status.RETIRED, reason=reason)
