"""The QA workspace pages for master records and the signed approval from the page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from batchrecords.models import MasterRecordVersion, Step
from batchrecords.services import authoring
from batchrecords.services import versions as lifecycle
from mes.models import ElectronicSignature
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    ui_client,
)


@pytest.fixture
def outsider(other_site, roles):
    return person("QA Reviewer", sites=[other_site], username="qa-far")


@pytest.fixture
def nobody(site, roles):
    return person(None, sites=[site], username="nobody")


@pytest.mark.req("MBR-UI-001")
def test_the_version_and_diff_pages_are_seen_only_at_their_site(
    effective, author, qa_user, outsider, nobody
):
    draft = lifecycle.new_version_from(actor=author, source=effective)
    for url in (
        f"/batchrecords/versions/{effective.pk}/",
        f"/batchrecords/versions/{effective.pk}/diff/{draft.pk}/",
    ):
        assert_permission_matrix(
            ui_client, url, {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: qa_user}, UI
        )


@pytest.mark.req("MBR-UI-001")
def test_the_list_shows_what_waits_for_review_first(effective, in_review, qa_user, outsider):
    page = ui_client(qa_user).get("/batchrecords/")
    html = page.content.decode()
    assert page.status_code == 200 and 'class="qa-workspace"' in html
    assert "CART-T1" in html
    assert "CART-T1" not in ui_client(outsider).get("/batchrecords/").content.decode()


@pytest.mark.req("MBR-UI-001", "MBR-STRUCT-002")
def test_the_version_page_shows_operations_steps_and_fields(imported, author):
    html = ui_client(author).get(f"/batchrecords/versions/{imported.pk}/").content.decode()
    assert 'id="op-TRANSDUCE"' in html and 'id="step-TRANSDUCE-T02"' in html
    assert "<strong>seal</strong>" in html
    assert (
        "5 * vcc * volume / titer" in html
        and 'LV-CD19 <span class="qty">2.5 mL</span> ± <span class="qty">0.25 mL</span>' in html
    )


@pytest.mark.req("MBR-UI-001", "MBR-DIFF-001")
def test_the_diff_page_shows_old_and_new_values(effective, author, qa_user):
    draft = lifecycle.new_version_from(actor=author, source=effective)
    step = Step.objects.get(operation__version=draft, code="T01")
    authoring.change_step(actor=author, step=step, title="Count the cells", reason="Clearer")
    html = (
        ui_client(qa_user)
        .get(f"/batchrecords/versions/{effective.pk}/diff/{draft.pk}/")
        .content.decode()
    )
    assert "TRANSDUCE/T01" in html
    assert '<td class="old">Count</td><td class="new">Count the cells</td>' in html


@pytest.mark.req("MBR-UI-001", "MBR-LIFE-003")
def test_the_author_is_told_why_before_any_password(in_review, author):
    author.groups.add(Group.objects.get(name="QA Reviewer"))
    author = type(author).objects.get(pk=author.pk)
    client = ui_client(author)
    html = client.get(f"/batchrecords/versions/{in_review.pk}/").content.decode()
    assert 'id="approve-refusal"' in html and 'id="approve-form"' not in html
    response = client.post(
        f"/batchrecords/versions/{in_review.pk}/approve/", {}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 403
    assert "never approves" in response.content.decode()
    assert 'type="password"' not in response.content.decode()
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("MBR-UI-001", "MBR-LIFE-001:approve")
def test_qa_approves_through_the_sign_dialog(in_review, qa_user, password):
    client = ui_client(qa_user)
    html = client.get(f"/batchrecords/versions/{in_review.pk}/").content.decode()
    assert 'id="approve-form"' in html
    url = f"/batchrecords/versions/{in_review.pk}/approve/"
    dialog = client.post(url, {"reason": "CC-9"}, HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200 and 'type="password"' in dialog.content.decode()
    wrong = client.post(url, {"reason": "CC-9", "password": "nope"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 403 and "not correct" in wrong.content.decode()
    assert ElectronicSignature.objects.count() == 0
    done = client.post(url, {"reason": "CC-9", "password": password}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    assert done["HX-Redirect"] == f"/batchrecords/versions/{in_review.pk}/"
    in_review.refresh_from_db()
    assert in_review.status == MasterRecordVersion.Status.EFFECTIVE


@pytest.mark.req("MBR-UI-001")
def test_submit_and_new_version_from_the_page(imported, author):
    client = ui_client(author)
    client.post(f"/batchrecords/versions/{imported.pk}/submit/")
    imported.refresh_from_db()
    assert imported.status == MasterRecordVersion.Status.IN_REVIEW
    response = client.post(f"/batchrecords/versions/{imported.pk}/new-version/")
    copy = MasterRecordVersion.objects.get(number=2)
    assert response["Location"] == f"/batchrecords/versions/{copy.pk}/"


@pytest.mark.req("MBR-UI-001")
def test_the_version_page_takes_as_many_queries_for_40_steps_as_for_3(imported, author, site):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from batchrecords.demo import DOCUMENT

    big = lifecycle.import_document(
        actor=author, site=site, document={**DOCUMENT, "product": "CART-T1"}
    )
    client = ui_client(author)
    counts = []
    for version in (imported, big):
        client.get(f"/batchrecords/versions/{version.pk}/")  # warm the session and caches
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/batchrecords/versions/{version.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 30, counts


@pytest.mark.req("MBR-UI-001")
def test_the_home_panel_lists_versions_waiting_for_qa(in_review, qa_user):
    html = ui_client(qa_user).get("/").content.decode()
    assert 'id="master-records-panel"' in html
    assert f"/batchrecords/versions/{in_review.pk}/" in html
