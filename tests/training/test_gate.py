"""The gate: one answer, with every reason that applies."""

from __future__ import annotations

import datetime as dt

import pytest

from mes.errors import DomainError
from tests.mes.factories import person
from tests.training.factories import certified, supersede, trained
from training.models import Certification, SOPDocument, TrainingRecord
from training.services.gate import (
    NotCertified,
    check_certified,
    check_certified_many,
    require_certified,
)

ON = dt.date(2026, 6, 1)


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


@pytest.fixture
def ready(operator, trainer, site, cell_selection, sop_revision):
    """Otto is trained on SOP-CS rev. 1 and certified for CELL-SEL at the site."""
    trained(operator, sop_revision, trainer=trainer, site=site)
    return certified(operator, cell_selection, site)


@pytest.mark.req("TRN-GATE-001:one-answer")
def test_a_trained_and_certified_person_passes(ready, operator, site):
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert result.certified and result.reasons == ()


@pytest.mark.req("TRN-GATE-001:one-answer")
def test_no_certification_is_not_qualified(operator, trainer, site, cell_selection,
                                           sop_revision):
    trained(operator, sop_revision, trainer=trainer, site=site)
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert not result.certified
    assert codes(result) == ["not_qualified"]
    assert "not certified for CELL-SEL at PLANT1" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-001:one-answer")
def test_a_certification_at_another_site_does_not_count(operator, trainer, site, other_site,
                                                        cell_selection, sop_revision):
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, other_site)
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert codes(result) == ["not_qualified"]


@pytest.mark.req("TRN-GATE-002")
def test_an_expired_certification_names_its_date(ready, operator, site):
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=dt.date(2027, 2, 1))
    assert codes(result) == ["expired"]
    assert result.reasons[0].date == dt.date(2027, 1, 31)
    assert "valid until 2027-01-31" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-002")
def test_the_last_valid_day_still_passes_in_the_sites_time_zone(ready, operator, site):
    # 2027-01-31 23:30 in Amsterdam is 22:30 UTC: still the last valid day there
    at = dt.datetime(2027, 1, 31, 22, 30, tzinfo=dt.UTC)
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=at).certified
    later = dt.datetime(2027, 1, 31, 23, 30, tzinfo=dt.UTC)  # 00:30 on 1 February there
    assert codes(check_certified(person=operator, qualification_codes=["CELL-SEL"],
                                 site=site, at=later)) == ["expired"]


@pytest.mark.req("TRN-GATE-003")
@pytest.mark.parametrize("status", [Certification.Status.SUSPENDED,
                                    Certification.Status.REVOKED])
def test_a_suspended_or_revoked_certification_fails(operator, trainer, site, cell_selection,
                                                    sop_revision, status):
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site, status=status)
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert codes(result) == [status.value]


@pytest.mark.req("TRN-GATE-004:effective")
def test_training_on_a_superseded_revision_fails_once_a_newer_one_is_effective(
        ready, operator, site, sop_revision):
    # Given Otto trained on rev. 1, when rev. 2 becomes effective on 2026-05-01
    supersede(sop_revision, "2", dt.date(2026, 5, 1))
    # Then before that date he still passes, and from it on he needs retraining
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=dt.date(2026, 4, 30)).certified
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert codes(result) == ["retraining_required"]
    assert "revision 2 is effective since 2026-05-01" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-004:effective")
def test_training_on_the_new_revision_restores_the_pass(ready, operator, trainer, site,
                                                        sop_revision):
    new = supersede(sop_revision, "2", dt.date(2026, 5, 1))
    trained(operator, new, trainer=trainer, site=site, on=dt.date(2026, 5, 10))
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=ON).certified


@pytest.mark.req("TRN-GATE-004:grace")
def test_an_sops_grace_period_delays_the_retraining_rule(ready, operator, site,
                                                         sop_revision):
    document = SOPDocument.objects.get(pk=sop_revision.document_id)
    document.retraining_grace_days = 45
    document._change_reason = "Grace period agreed"
    document.save()
    supersede(sop_revision, "2", dt.date(2026, 5, 1))
    assert check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                           at=dt.date(2026, 6, 14)).certified
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=dt.date(2026, 6, 15))
    assert codes(result) == ["retraining_required"]
    assert "grace period ended 2026-06-15" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-004:counting", "TRN-REC-001:counts")
def test_training_that_is_unverified_or_failed_does_not_count(operator, trainer, site,
                                                              cell_selection, sop_revision):
    certified(operator, cell_selection, site)
    trained(operator, sop_revision, trainer=trainer, site=site,
            status=TrainingRecord.Status.AWAITING_VERIFICATION)
    trained(operator, sop_revision, trainer=trainer, site=site,
            assessment=TrainingRecord.Assessment.FAILED)
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert codes(result) == ["not_trained"]
    assert "SOP-CS rev. 1" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-005")
def test_gowning_for_the_suites_grade_is_required(ready, operator, site, gowning_b):
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON, cleanroom_grade="B")
    assert codes(result) == ["not_gowning_qualified"]
    assert "grade B" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-005")
def test_grade_b_gowning_covers_grade_c_but_not_grade_a(ready, operator, site, gowning_b):
    certified(operator, gowning_b, site)
    for grade, ok in (("B", True), ("C", True), ("D", True), ("A", False)):
        result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                                 at=ON, cleanroom_grade=grade)
        assert result.certified is ok, grade


@pytest.mark.req("TRN-GATE-005")
def test_an_expired_gowning_certification_says_why(ready, operator, site, gowning_b):
    certified(operator, gowning_b, site, valid_until=dt.date(2026, 5, 31))
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON, cleanroom_grade="B")
    assert codes(result) == ["not_gowning_qualified"]
    assert "valid until 2026-05-31" in result.reasons[0].message


@pytest.mark.req("TRN-GATE-001:every-reason")
def test_every_reason_that_applies_is_listed(operator, trainer, site, cell_selection,
                                            sop_revision, gowning_b):
    # Given a suspended, expired certification, training on a superseded revision and no
    # gowning
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site, valid_until=dt.date(2026, 5, 31),
              status=Certification.Status.SUSPENDED)
    supersede(sop_revision, "2", dt.date(2026, 5, 1))
    result = check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                             at=ON, cleanroom_grade="B")
    assert codes(result) == ["suspended", "expired", "retraining_required",
                             "not_gowning_qualified"]


@pytest.mark.req("TRN-GATE-001:every-reason")
def test_a_person_without_access_to_the_site_fails(ready, site, other_site, cell_selection):
    stranger = person("Operator", sites=[other_site], username="far1", full_name="Far Away")
    result = check_certified(person=stranger, qualification_codes=["CELL-SEL"], site=site,
                             at=ON)
    assert codes(result) == ["no_site_access", "not_qualified", "not_trained"]


@pytest.mark.req("TRN-GATE-001:require")
def test_require_certified_raises_with_every_reason(operator, site, cell_selection):
    with pytest.raises(DomainError) as raised:
        require_certified(person=operator, qualification_codes=["CELL-SEL"], site=site, at=ON)
    assert (raised.value.code, raised.value.status) == ("not_certified", 403)
    assert isinstance(raised.value, NotCertified)
    assert len(raised.value.fields["certification"]) == 2
    assert "not certified for CELL-SEL" in raised.value.message


@pytest.mark.req("TRN-GATE-001:bad-question")
def test_unknown_qualifications_and_grades_are_clear_errors(operator, site, cell_selection):
    with pytest.raises(DomainError, match="Unknown qualification: NOPE") as refused:
        check_certified(person=operator, qualification_codes=["NOPE"], site=site)
    assert refused.value.code == "unknown_qualification"
    with pytest.raises(DomainError, match="not a cleanroom grade") as refused:
        check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site,
                        cleanroom_grade="E")
    assert refused.value.code == "unknown_grade"


@pytest.mark.req("TRN-GATE-001:queries")
def test_the_gate_costs_a_constant_number_of_queries(ready, operator, site, gowning_b,
                                                     django_assert_max_num_queries):
    operator = type(operator).objects.get(pk=operator.pk)
    with django_assert_max_num_queries(8):
        check_certified(person=operator, qualification_codes=["CELL-SEL"], site=site, at=ON,
                        cleanroom_grade="B")


@pytest.mark.req("TRN-GATE-001:queries")
def test_a_roster_is_answered_at_once_with_the_same_reasons(
        ready, operator, trainer, site, cell_selection, django_assert_max_num_queries):
    others = [person("Operator", sites=[site], username=f"r{n}", full_name=f"Roster {n}")
              for n in range(5)]
    everyone = [operator, trainer, *others]
    with django_assert_max_num_queries(8):
        answers = check_certified_many(people=everyone, qualification_codes=["CELL-SEL"],
                                       site=site, at=ON)
    assert answers[operator.pk].certified
    for someone in [trainer, *others]:
        alone = check_certified(person=someone, qualification_codes=["CELL-SEL"], site=site,
                                at=ON)
        assert answers[someone.pk].reasons == alone.reasons
        assert codes(alone) == ["not_qualified", "not_trained"]
