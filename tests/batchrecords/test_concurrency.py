"""Two QA reviewers approving at the same moment: the versions of a master record are locked
together, so exactly one version is effective afterwards."""

from __future__ import annotations

import pytest

from batchrecords.models import MasterRecordVersion
from batchrecords.services import versions as lifecycle
from mes.models import ElectronicSignature
from tests.mes.factories import PASSWORD
from tests.races import race


def _race(calls) -> list[str]:
    return race(calls, "approved")


@pytest.mark.postgres
@pytest.mark.req("MBR-LIFE-002:supersede", "MBR-LIFE-007")
def test_two_approvals_of_one_version_at_once_sign_it_once(
    transactional_db, in_review, qa_user, other_qa
):
    outcomes = _race(
        [
            lambda who=who: lifecycle.approve_version(
                actor=who, password=PASSWORD, version=in_review
            )
            for who in (qa_user, other_qa)
        ]
    )
    assert outcomes == ["approved", "transition_refused"]
    assert MasterRecordVersion.objects.get(pk=in_review.pk).status == "effective"
    assert ElectronicSignature.objects.filter(meaning="approved").count() == 1


@pytest.mark.postgres
@pytest.mark.req("MBR-LIFE-002:supersede", "MBR-LIFE-007")
def test_two_versions_approved_at_once_leave_one_effective(
    transactional_db, effective, author, qa_user, other_qa
):
    second = lifecycle.new_version_from(actor=author, source=effective, change_summary="v2")
    third = lifecycle.new_version_from(actor=author, source=effective, change_summary="v3")
    for version in (second, third):
        lifecycle.submit_for_review(actor=author, version=version)
    outcomes = _race(
        [
            lambda: lifecycle.approve_version(actor=qa_user, password=PASSWORD, version=second),
            lambda: lifecycle.approve_version(actor=other_qa, password=PASSWORD, version=third),
        ]
    )
    # v2 approved after v3 would bring back an older procedure: refused (MBR-LIFE-008)
    assert sorted(outcomes) in (["approved", "approved"], ["approved", "version_outdated"])
    statuses = dict(MasterRecordVersion.objects.values_list("number", "status"))
    assert list(statuses.values()).count("effective") == 1
    if "version_outdated" in outcomes:  # v3 went first: v2 stays in review
        assert (statuses[2], statuses[3]) == ("in_review", "effective")


@pytest.mark.postgres
@pytest.mark.req("MBR-LIFE-007")
def test_two_first_imports_at_once_both_arrive_as_drafts_of_one_master_record(
        transactional_db, author, site, product, document):
    import copy

    outcomes = _race([
        lambda: lifecycle.import_document(actor=author, site=site,
                                          document=copy.deepcopy(document))
        for _ in range(2)])
    assert outcomes == ["approved", "approved"]  # (the helper's word for "succeeded")
    numbers = sorted(MasterRecordVersion.objects.values_list("master_id", "number"))
    assert len({master for master, _ in numbers}) == 1
    assert [number for _, number in numbers] == [1, 2]
