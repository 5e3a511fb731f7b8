"""The life of a master record version: draft, review, signed QA approval (never by the
author), supersession in the same transaction, retirement, new version from, and the
database's one effective version per product and site."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from batchrecords.models import (
    DataField,
    MasterRecord,
    MasterRecordVersion,
    Operation,
    Step,
    StepMaterial,
)
from batchrecords.services import authoring
from batchrecords.services import versions as lifecycle
from mes.models import ElectronicSignature
from mes.services.signatures import verify
from tests.refusals import refused

Status = MasterRecordVersion.Status


def _snapshot():
    return (
        list(MasterRecordVersion.objects.order_by("pk").values_list("pk", "status", "approved_by")),
        MasterRecordVersion.history.count(),
        ElectronicSignature.objects.count(),
        Step.objects.count(),
        Step.history.count(),
        DataField.history.count(),
    )


@pytest.mark.req("MBR-LIFE-001:draft")
def test_an_import_arrives_as_a_draft_with_every_part(imported, author):
    assert imported.status == Status.DRAFT and imported.number == 1
    assert imported.author == author
    assert Operation.objects.filter(version=imported).count() == 2
    steps = Step.objects.filter(operation__version=imported)
    assert steps.count() == 3
    assert StepMaterial.objects.filter(step__operation__version=imported).count() == 1
    assert DataField.objects.filter(step__operation__version=imported).count() == 8
    history = MasterRecordVersion.history.filter(id=imported.pk).get()
    assert history.history_user == author


@pytest.mark.req("MBR-LIFE-001:approve", "MBR-LIFE-002:supersede")
def test_qa_approval_signs_and_supersedes_the_version_in_force(
    effective, qa_user, author, password
):
    assert effective.status == Status.EFFECTIVE
    assert effective.approved_by == qa_user and effective.approved_at is not None
    signature = ElectronicSignature.objects.get(object_id=effective.pk, meaning="approved")
    assert signature.signer == qa_user and verify(signature).valid
    second = lifecycle.new_version_from(actor=author, source=effective, change_summary="Next")
    lifecycle.submit_for_review(actor=author, version=second)
    lifecycle.approve_version(actor=qa_user, password=password, version=second)
    effective.refresh_from_db()
    second.refresh_from_db()
    assert (effective.status, second.status) == (Status.SUPERSEDED, Status.EFFECTIVE)
    # Supersession was written with the approval, attributed to the approver.
    superseded = effective.history.order_by("-history_id").first()
    assert superseded.history_user == qa_user
    assert superseded.history_change_reason == "Superseded by v2"


@pytest.mark.req("MBR-LIFE-003")
def test_the_author_never_approves_their_own_version(in_review, site, roles, password):
    from django.contrib.auth.models import Group

    # The author is given QA's rights too: still refused, before the password is asked.
    author = in_review.author
    author.groups.add(Group.objects.get(name="QA Reviewer"))
    author = type(author).objects.get(pk=author.pk)
    before = _snapshot()
    with refused("author_cannot_approve"):
        lifecycle.approve_version(actor=author, password=password, version=in_review)
    assert _snapshot() == before


@pytest.mark.req("MBR-LIFE-001:approve")
def test_only_a_version_in_review_is_approved(imported, qa_user, password):
    before = _snapshot()
    with refused("transition_refused"):
        lifecycle.approve_version(actor=qa_user, password=password, version=imported)
    assert _snapshot() == before


@pytest.mark.req("MBR-LIFE-008")
def test_an_older_version_is_never_approved_over_a_newer_one_in_force(
        effective, author, qa_user, password):
    # v2 and v3 are both in review; v3 is approved first
    v2 = lifecycle.new_version_from(actor=author, source=effective, change_summary="v2")
    lifecycle.submit_for_review(actor=author, version=v2)
    v3 = lifecycle.new_version_from(actor=author, source=effective, change_summary="v3")
    lifecycle.submit_for_review(actor=author, version=v3)
    lifecycle.approve_version(actor=qa_user, password=password, version=v3)
    before = _snapshot()
    with refused("version_outdated", match="older than v3"):
        lifecycle.approve_version(actor=qa_user, password=password, version=v2)
    assert _snapshot() == before
    v2.refresh_from_db()
    v3.refresh_from_db()
    assert (v2.status, v3.status) == (Status.IN_REVIEW, Status.EFFECTIVE)


@pytest.mark.req("MBR-LIFE-001:approve")
def test_a_wrong_password_approves_nothing(in_review, qa_user):
    before = _snapshot()
    with refused("wrong_password"):
        lifecycle.approve_version(actor=qa_user, password="wrong", version=in_review)
    assert _snapshot() == before


@pytest.mark.req("MBR-LIFE-001:approve")
def test_a_supervisor_cannot_approve(in_review, author, password, site, roles):
    from tests.mes.factories import person

    other = person("Supervisor", sites=[site], username="sup2")
    before = _snapshot()
    with refused("signature_refused"):
        lifecycle.approve_version(actor=other, password=password, version=in_review)
    assert _snapshot() == before


@pytest.mark.req("MBR-LIFE-004")
@pytest.mark.parametrize("state", ["in_review", "effective"])
def test_only_a_draft_is_edited(request, state, author):
    version = request.getfixturevalue(state)
    step = Step.objects.filter(operation__version=version).first()
    field = DataField.objects.filter(step__operation__version=version).first()
    operation = step.operation
    before = _snapshot()
    edits = [
        lambda: authoring.change_step(actor=author, step=step, title="Changed", reason="r"),
        lambda: authoring.add_step(actor=author, operation=operation, code="X99", title="X"),
        lambda: authoring.add_operation(actor=author, version=version, code="NEW", name="N"),
        lambda: authoring.add_material(
            actor=author, step=step, material_code="PBS", quantity=1, unit="mL"
        ),
        lambda: authoring.add_data_field(actor=author, step=step, key="x", label="X", kind="text"),
        lambda: authoring.change_data_field(actor=author, field=field, label="Y", reason="r"),
        lambda: authoring.change_header(
            actor=author, version=version, title="T", change_summary="", reason="r"
        ),
    ]
    for edit in edits:
        with refused("version_not_draft"):
            edit()
    assert _snapshot() == before


@pytest.mark.req("MBR-LIFE-004")
def test_a_draft_is_edited_with_a_reason_on_every_change(imported, author):
    step = Step.objects.get(operation__version=imported, code="T01")
    with refused("reason_required"):
        authoring.change_step(actor=author, step=step, title="Count the cells", reason="")
    authoring.change_step(actor=author, step=step, title="Count the cells", reason="Clearer title")
    step.refresh_from_db()
    assert step.title == "Count the cells"
    assert step.history.order_by("-history_id").first().history_change_reason == "Clearer title"


@pytest.mark.req("MBR-LIFE-005")
def test_new_version_from_copies_everything_into_a_new_draft(effective, author):
    from batchrecords.exchange import export_version

    copy = lifecycle.new_version_from(actor=author, source=effective, change_summary="next")
    assert (copy.status, copy.number, copy.based_on) == (Status.DRAFT, 2, effective)
    original, copied = export_version(effective), export_version(copy)
    assert copied["operations"] == original["operations"]
    assert Step.objects.filter(operation__version=copy).count() == 3
    assert not set(Step.objects.filter(operation__version=copy).values_list("pk", flat=True)) & set(
        Step.objects.filter(operation__version=effective).values_list("pk", flat=True)
    )


@pytest.mark.req("MBR-LIFE-006")
def test_retiring_needs_a_reason_and_ends_the_lifecycle(effective, qa_user, author):
    before = _snapshot()
    with refused("reason_required"):
        lifecycle.retire_version(actor=qa_user, version=effective, reason=" ")
    assert _snapshot() == before
    with refused("permission_denied"):
        lifecycle.retire_version(actor=author, version=effective, reason="Obsolete")
    lifecycle.retire_version(actor=qa_user, version=effective, reason="Process withdrawn")
    effective.refresh_from_db()
    assert effective.status == Status.RETIRED
    with refused("transition_refused"):
        lifecycle.retire_version(actor=qa_user, version=effective, reason="Again")


@pytest.mark.req("MBR-LIFE-007")
def test_the_database_holds_one_effective_version_per_product_and_site(effective, author):
    second = lifecycle.new_version_from(actor=author, source=effective)
    second.status = Status.EFFECTIVE
    second.approved_by = effective.approved_by
    second._change_reason = "bypassing the service"
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()
    assert MasterRecordVersion.objects.filter(status=Status.EFFECTIVE).count() == 1


@pytest.mark.req("MBR-LIFE-007")
def test_one_master_record_per_product_and_site(imported, author, site, product):
    version = lifecycle.create_draft(actor=author, product=product, site=site, title="Again")
    assert version.master_id == imported.master_id and version.number == 2
    assert MasterRecord.objects.count() == 1


@pytest.mark.req("MBR-LIFE-002:covers-procedure")
def test_a_step_changed_after_approval_breaks_the_signature(effective):
    from mes.audit import system_user

    signature = effective.signatures.get(meaning="approved")
    step = Step.objects.filter(operation__version=effective).first()
    step.title = "Tampered"
    step._change_reason = "tamper"
    step._history_user = system_user()
    with connection.cursor() as cursor:  # past the database's own refusal (MBR-LIFE-009)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending events, then:
            cursor.execute("ALTER TABLE batchrecords_step DISABLE TRIGGER only_in_drafts")
        step.save()
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE batchrecords_step ENABLE TRIGGER only_in_drafts")
    assert not verify(signature).valid


@pytest.mark.postgres
@pytest.mark.req("MBR-LIFE-009")
def test_the_database_refuses_any_change_to_an_approved_procedure(effective):
    from mes.audit import system_user

    step = Step.objects.filter(operation__version=effective).first()
    title = step.title
    step.title, step._change_reason, step._history_user = "Tampered", "tamper", system_user()
    with pytest.raises(DatabaseError, match="not a draft"), transaction.atomic():
        step.save()
    field = DataField.objects.filter(step=step).first() or DataField.objects.filter(
        step__operation__version=effective).first()
    field.action_high, field._change_reason, field._history_user = 999, "tamper", system_user()
    with pytest.raises(DatabaseError, match="not a draft"), transaction.atomic():
        field.save()
    with pytest.raises(DatabaseError, match="not a draft"), transaction.atomic():
        Operation.objects.create(version=effective, code="EXTRA", name="Extra", position=99)
    step.refresh_from_db()
    assert step.title == title


def _edits(version, editor):
    """One edit of each part of a draft's content, by ``editor``."""
    step = Step.objects.get(operation__version=version, code="T01")
    field = DataField.objects.get(step=step, key="volume")
    return {
        "header": lambda: authoring.change_header(
            actor=editor, version=version, title="Test CAR-T process (rev.)",
            change_summary="First issue.", reason="Clearer title"),
        "step": lambda: authoring.change_step(
            actor=editor, step=step, title="Count the cells", reason="Clearer"),
        "material": lambda: authoring.add_material(
            actor=editor, step=step, material_code="LV-CD19", quantity=1, unit="mL"),
        "field": lambda: authoring.change_data_field(
            actor=editor, field=field, label="Volume in the bag", reason="Clearer"),
        "operation": lambda: authoring.add_step(
            actor=editor, operation=step.operation, code="T09", title="Extra"),
    }


@pytest.mark.req("MBR-LIFE-010:editor")
@pytest.mark.parametrize("part", ["header", "step", "material", "field", "operation"])
def test_whoever_edited_a_draft_never_approves_it(
    imported, author, other_qa, qa_user, password, part
):
    # QA's second reviewer (who may author) edits one part of the author's draft
    _edits(imported, other_qa)[part]()
    lifecycle.submit_for_review(actor=author, version=imported)
    assert lifecycle.content_writers(imported) == {author.pk, other_qa.pk}
    before = _snapshot()
    with refused("editor_cannot_approve", match="Quinn Second wrote part of"):
        lifecycle.approve_version(actor=other_qa, password=password, version=imported)
    assert _snapshot() == before
    # a reviewer who wrote nothing approves it
    lifecycle.approve_version(actor=qa_user, password=password, version=imported)
    imported.refresh_from_db()
    assert imported.status == Status.EFFECTIVE


@pytest.mark.req("MBR-LIFE-010:status-moves")
def test_sending_a_version_back_to_its_author_is_not_writing_it(
    in_review, author, other_qa, password
):
    lifecycle.return_to_draft(actor=other_qa, version=in_review, reason="Add the seal check")
    lifecycle.submit_for_review(actor=author, version=in_review)
    assert lifecycle.content_writers(in_review) == {author.pk}
    lifecycle.approve_version(actor=other_qa, password=password, version=in_review)
    in_review.refresh_from_db()
    assert in_review.status == Status.EFFECTIVE


@pytest.mark.req("MBR-LIFE-011")
def test_a_second_version_goes_to_review_only_with_a_change_summary(effective, author):
    draft = lifecycle.new_version_from(actor=author, source=effective)
    before = _snapshot()
    with refused("change_summary_required", field="change_summary"):
        lifecycle.submit_for_review(actor=author, version=draft)
    authoring.change_header(actor=author, version=draft, title=draft.title,
                            change_summary="   ", reason="Blank")
    with refused("change_summary_required"):
        lifecycle.submit_for_review(actor=author, version=draft)
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT and _snapshot()[0] == before[0]
    authoring.change_header(actor=author, version=draft, title=draft.title,
                            change_summary="Longer count.", reason="Summary for review")
    assert lifecycle.submit_for_review(actor=author, version=draft).status == Status.IN_REVIEW
