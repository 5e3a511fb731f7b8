"""The training pages: the matrix (query budget, filters, CSV), a person's page, the signed
flows through the sign dialog, the home panel, and who may see what."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from mes.models import ElectronicSignature
from tests.mes.factories import PASSWORD, UserFactory, person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    ui_client,
)
from tests.training.factories import (
    QualificationFactory,
    SOPDocumentFactory,
    SOPRevisionFactory,
    certified,
    require_sop,
    trained,
)
from training.models import Certification, CertificationDecision, TrainingRecord


@pytest.mark.req("TRN-UI-001:states")
def test_the_matrix_colours_each_state_and_shows_the_expiry_date(
        client, site, trainer, supervisor, operator, cell_selection, sop_revision, gowning_b):
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site, valid_until=dt.date(2026, 6, 20))
    certified(operator, gowning_b, site, status=Certification.Status.SUSPENDED)
    client.force_login(supervisor)
    html = client.get(reverse("training:matrix")).content.decode()
    assert "Expires soon" in html and "until 2026-06-20" in html
    assert 'data-state="suspended"' in html and "pill-bad" in html


@pytest.mark.req("TRN-UI-001:filter-export")
def test_the_matrix_filters_by_qualification_and_grade_and_exports_csv(
        client, site, trainer, supervisor, operator, cell_selection, sop_revision, gowning_b):
    trained(operator, sop_revision, trainer=trainer, site=site)
    certified(operator, cell_selection, site)
    certified(operator, gowning_b, site)
    client.force_login(supervisor)
    url = reverse("training:matrix")

    by_qualification = client.get(url, {"site": site.pk, "qualification": "CELL-SEL"})
    assert ">CELL-SEL</th>" in by_qualification.content.decode()
    assert ">GOWN-B</th>" not in by_qualification.content.decode()

    by_grade = client.get(url, {"site": site.pk, "grade": "B"}).content.decode()
    assert 'data-person="op1"' in by_grade and 'data-person="sup1"' not in by_grade
    assert 'data-person="op1"' not in client.get(url, {"site": site.pk,
                                                       "grade": "A"}).content.decode()

    exported = client.get(url, {"site": site.pk, "format": "csv"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0] == ["Person", "Username", "GOWN-B", "CELL-SEL"]  # gowning first
    assert ["Otto Operator", "op1", "Certified until 2027-01-31",
            "Certified until 2027-01-31"] in rows


@pytest.mark.req("TRN-UI-001:access", "TRN-UI-002:scoped")
def test_who_may_see_the_matrix_and_a_persons_page(site, other_site, operator, supervisor,
                                                   roles):
    far = person("Supervisor", sites=[other_site], username="far1", full_name="Far Away")
    other_operator = person("Operator", sites=[site], username="op2", full_name="Ola Two")
    assert_permission_matrix(ui_client, reverse("training:person", args=[operator.pk]),
                             {NO_PERMISSION: other_operator, OTHER_SITE: far,
                              ALLOWED: supervisor}, UI)
    assert ui_client(operator).get(reverse("training:person", args=[operator.pk])
                                   ).status_code == 200  # one's own page
    assert ui_client(operator).get(reverse("training:matrix")).status_code == 403


def open_dialog(client, url, form):
    response = client.post(url, form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content.decode()[:500]
    assert "sign-dialog" in response.content.decode()
    return response.content.decode()


@pytest.mark.req("TRN-UI-002:sign-flows", "TRN-CERT-001:signed")
def test_granting_through_the_sign_dialog(client, site, trainer, operator, cell_selection,
                                          sop_revision):
    trained(operator, sop_revision, trainer=trainer, site=site)
    client.force_login(trainer)
    url = reverse("training:grant", args=[operator.pk])
    form = {"qualification": cell_selection.pk, "site": site.pk, "valid_from": "",
            "reason": "Observed three aseptic runs"}
    html = open_dialog(client, url, form)
    assert "Approved" in html and "CELL-SEL" in html and "Observed three aseptic runs" in html
    assert not Certification.objects.exists()

    wrong = client.post(url, {**form, "password": "bad"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 403 and "not correct" in wrong.content.decode()
    assert not Certification.objects.exists()

    done = client.post(url, {**form, "password": PASSWORD}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    assert done["HX-Redirect"] == reverse("training:person", args=[operator.pk])
    page = client.get(done["HX-Redirect"]).content.decode()
    assert "CELL-SEL" in page and "Observed three aseptic runs" in page
    assert "APPROVED" in page.upper() and "Tina Trainer" in page
    assert Certification.objects.get().valid_from == dt.date(2026, 6, 1)


@pytest.mark.req("TRN-UI-002:sign-flows", "TRN-CERT-002:training")
def test_a_refused_grant_shows_why_in_the_dialog(client, site, trainer, operator,
                                                 cell_selection):
    client.force_login(trainer)
    url = reverse("training:grant", args=[operator.pk])
    form = {"qualification": cell_selection.pk, "site": site.pk, "reason": "Passed",
            "password": PASSWORD}
    response = client.post(url, form, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "No completed training on SOP-CS rev. 1" in response.content.decode()
    assert not Certification.objects.exists()


@pytest.mark.req("UI-SIGN-002")
def test_a_grant_that_cannot_be_signed_says_why_before_any_password_is_asked(
        client, site, trainer, operator, cell_selection):
    # given a trainee with no training on the SOP the qualification requires
    client.force_login(trainer)
    url = reverse("training:grant", args=[operator.pk])
    form = {"qualification": cell_selection.pk, "site": site.pk, "reason": "Passed"}
    # when the trainer continues to the signature
    response = client.post(url, form)
    # then the form page says why, and no dialog asks for a password
    html = response.content.decode()
    assert response.status_code == 400
    assert "No completed training on SOP-CS rev. 1" in html
    assert 'name="password"' not in html and "sign-meaning" not in html
    assert not Certification.objects.exists()


@pytest.mark.req("UI-SIGN-002")
def test_a_decision_that_cannot_be_signed_says_why_before_any_password_is_asked(
        client, site, trainer, operator, cell_selection):
    # given a certification whose validity has ended
    cert = certified(operator, cell_selection, site, valid_from=dt.date(2025, 1, 1),
                     valid_until=dt.date(2026, 1, 1), status=Certification.Status.SUSPENDED)
    client.force_login(trainer)
    url = reverse("training:decide", args=[cert.pk, "reinstate"])
    response = client.post(url, {"reason": "Back from leave"})
    html = response.content.decode()
    assert response.status_code == 400 and "validity has ended" in html
    assert 'name="password"' not in html
    cert.refresh_from_db()
    assert cert.status == Certification.Status.SUSPENDED


@pytest.mark.req("TRN-UI-002:sign-flows")
def test_a_bad_grant_form_is_a_clear_400(client, trainer, operator):
    client.force_login(trainer)
    response = client.post(reverse("training:grant", args=[operator.pk]), {"reason": ""})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


@pytest.mark.req("TRN-UI-002:sign-flows", "TRN-CERT-001:signed")
def test_suspending_through_the_sign_dialog(client, site, trainer, operator, cell_selection):
    cert = certified(operator, cell_selection, site)
    client.force_login(trainer)
    url = reverse("training:decide", args=[cert.pk, "suspend"])
    form = {"reason": "Failed media fill"}
    html = open_dialog(client, url, form)
    assert "Suspend certification" in html
    done = client.post(url, {**form, "password": PASSWORD}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    cert.refresh_from_db()
    assert cert.status == Certification.Status.SUSPENDED
    assert CertificationDecision.objects.get().reason == "Failed media fill"


@pytest.mark.req("TRN-UI-002:other-decisions", "TRN-CERT-001:signed")
@pytest.mark.parametrize("action, status, after, title", [
    ("renew", Certification.Status.ACTIVE, Certification.Status.ACTIVE,
     "Renew certification"),
    ("reinstate", Certification.Status.SUSPENDED, Certification.Status.ACTIVE,
     "Reinstate certification"),
    ("revoke", Certification.Status.ACTIVE, Certification.Status.REVOKED,
     "Revoke certification"),
])
def test_renewing_reinstating_and_revoking_through_the_sign_dialog(
        client, site, trainer, operator, cell_selection, sop_revision, action, status, after,
        title):
    trained(operator, sop_revision, trainer=trainer, site=site)
    cert = certified(operator, cell_selection, site, status=status)
    client.force_login(trainer)
    url = reverse("training:decide", args=[cert.pk, action])
    form = {"reason": f"Decision: {action}"}
    assert title in open_dialog(client, url, form)
    assert not CertificationDecision.objects.exists()  # the dialog alone signs nothing
    done = client.post(url, {**form, "password": PASSWORD}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204, done.content
    cert.refresh_from_db()
    assert cert.status == after
    decision = CertificationDecision.objects.get()
    assert (decision.action, decision.reason, decision.decided_by) == (
        action, f"Decision: {action}", trainer)
    assert decision.signatures.get().meaning == "approved"


@pytest.mark.req("TRN-UI-002:scoped")
def test_a_certification_of_another_site_is_a_404(client, other_site, trainer, roles,
                                                  cell_selection):
    far = person("Operator", sites=[other_site], username="far2", full_name="Far Two")
    cert = certified(far, cell_selection, other_site)
    client.force_login(trainer)
    response = client.post(reverse("training:decide", args=[cert.pk, "revoke"]),
                           {"reason": "x", "password": PASSWORD})
    assert response.status_code == 404
    cert.refresh_from_db()
    assert cert.status == Certification.Status.ACTIVE


@pytest.mark.req("TRN-UI-002:sign-flows", "TRN-REC-001:trainer-verifies")
def test_recording_and_verifying_training_through_the_sign_dialog(
        client, site, trainer, operator, sop_revision):
    client.force_login(operator)
    url = reverse("training:record")
    form = {"sop_revision": sop_revision.pk, "trainer": trainer.pk, "site": site.pk,
            "trained_on": "2026-05-28", "assessment": "passed", "comments": ""}
    html = open_dialog(client, url, form)
    assert "Trained" in html and "Tina Trainer" in html
    done = client.post(url, {**form, "password": PASSWORD}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    record = TrainingRecord.objects.get()

    client.force_login(trainer)
    page = client.get(reverse("training:person", args=[operator.pk])).content.decode()
    assert reverse("training:verify", args=[record.pk]) in page
    home = client.get(reverse("home")).content.decode()
    assert "Training awaiting your verification" in home
    verify_url = reverse("training:verify", args=[record.pk])
    assert "Verified" in open_dialog(client, verify_url, {})
    done = client.post(verify_url, {"password": PASSWORD}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    record.refresh_from_db()
    assert record.status == TrainingRecord.Status.COMPLETE
    assert list(ElectronicSignature.objects.values_list("meaning", flat=True)) == [
        "trained", "verified"]


@pytest.mark.req("UI-SIGN-002")
def test_recording_or_verifying_a_training_that_cannot_be_signed_says_why_first(
        client, site, trainer, operator, sop_revision):
    # a training dated before its revision took effect: the form says so, no dialog opens
    client.force_login(operator)
    url = reverse("training:record")
    form = {"sop_revision": sop_revision.pk, "trainer": trainer.pk, "site": site.pk,
            "trained_on": "2020-01-01", "assessment": "passed", "comments": ""}
    refused = client.post(url, form)
    html = refused.content.decode()
    assert refused.status_code == 400 and "was not yet effective on 2020-01-01" in html
    assert 'name="password"' not in html and not TrainingRecord.objects.exists()
    # a recorded training is verified only by the trainer it names: anyone else is told why
    client.post(url, {**form, "trained_on": "2026-05-28", "password": PASSWORD})
    record = TrainingRecord.objects.get()
    other = person("Trainer", sites=[site], username="tr2", full_name="Other Trainer")
    client.force_login(other)
    verify_url = reverse("training:verify", args=[record.pk])
    answer = client.post(verify_url, {}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 204 and answer["HX-Redirect"] == reverse(
        "training:person", args=[operator.pk])
    page = client.get(answer["HX-Redirect"]).content.decode()
    assert "Only the trainer named on the record verifies it." in page
    record.refresh_from_db()
    assert record.status == TrainingRecord.Status.AWAITING_VERIFICATION
    assert list(ElectronicSignature.objects.values_list("meaning", flat=True)) == ["trained"]


@pytest.mark.req("TRN-UI-003")
def test_the_home_page_shows_own_certifications_and_what_expires_soon(
        client, site, operator, cell_selection, sop_revision, gowning_b):
    certified(operator, cell_selection, site, valid_until=dt.date(2026, 6, 20))
    certified(operator, gowning_b, site, valid_until=dt.date(2027, 1, 31))
    someone = UserFactory(username="x1")
    certified(someone, cell_selection, site)  # not Otto's
    client.force_login(operator)
    html = client.get(reverse("home")).content.decode()
    panel = html[html.index('id="training-panel"'):]
    assert "Your certifications" in panel
    expiring = panel[panel.index('id="expiring-soon"'):panel.index("</div></div>")]
    assert "CELL-SEL" in expiring and "2026-06-20" in expiring and "GOWN-B" not in expiring
    assert panel.count("<tr><td title=") == 2
    # Judged by the gate: CELL-SEL needs training on SOP-CS, gowning needs nothing
    assert "Retraining due" in panel and "Certified" in panel


@pytest.mark.req("TRN-UI-002:shows")
def test_the_person_page_shows_why_an_active_certification_does_not_pass(
        client, site, trainer, operator, cell_selection, sop_revision):
    certified(operator, cell_selection, site)
    client.force_login(trainer)
    html = client.get(reverse("training:person", args=[operator.pk])).content.decode()
    assert "No completed training on SOP-CS rev. 1." in html


@pytest.mark.req("TRN-UI-002:shows")
def test_the_person_page_query_count_does_not_grow_with_records(
        client, site, trainer, operator, django_assert_max_num_queries):
    for i in range(8):
        revision = SOPRevisionFactory(document=SOPDocumentFactory(number=f"SOP-P{i}"))
        qualification = QualificationFactory(code=f"P{i}")
        require_sop(qualification, revision.document)
        trained(operator, revision, trainer=trainer, site=site)
        certified(operator, qualification, site)
    client.force_login(trainer)
    with django_assert_max_num_queries(30):
        assert client.get(reverse("training:person", args=[operator.pk])).status_code == 200


@pytest.mark.req("TRN-SOP-001:supersede")
def test_qa_makes_a_draft_revision_effective_on_the_sop_page(client, qa_user, supervisor,
                                                             cell_selection, sop_revision):
    client.force_login(qa_user)
    page = client.get(reverse("training:sops")).content.decode()
    assert "SOP-CS" in page and "Effective" in page and "CELL-SEL" in page
    client.post(reverse("training:sop-add-revision", args=[sop_revision.document_id]),
                {"revision": "2", "summary": "New bead lot"})
    draft = sop_revision.document.revisions.get(revision="2")
    url = reverse("training:sop-make-effective", args=[draft.pk])
    client.post(url, {"effective_date": "2026-06-01", "reason": ""})
    draft.refresh_from_db()
    assert draft.status == "draft"  # no reason, no change
    response = client.post(url, {"effective_date": "2026-06-01", "reason": "CC-88 closed"},
                           follow=True)
    assert "is effective from 2026-06-01" in response.content.decode()
    draft.refresh_from_db()
    sop_revision.refresh_from_db()
    assert (draft.status, sop_revision.status) == ("effective", "superseded")
    # A supervisor reads the page but has no forms, and cannot post
    client.force_login(supervisor)
    assert "Make effective" not in client.get(reverse("training:sops")).content.decode()
    assert client.post(url, {"effective_date": "2026-06-02", "reason": "x"}).status_code == 403
