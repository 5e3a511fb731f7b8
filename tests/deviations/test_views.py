"""Pages: the board (ordering, colours, filters, query budget), the terminal's raise page,
the signed flows through the sign dialog, the badge, scoping and the permission matrix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from deviations.models import Deviation, EscalationLevel, Status
from deviations.services import workflow
from mes import audit
from mes.middleware import LAST_ACTIVITY
from mes.models import ElectronicSignature
from tests.deviations.factories import raised
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    api_client,
    assert_permission_matrix,
    ui_client,
)

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.req("DEV-UI-001:order")
def test_the_board_orders_by_deadline_and_colours_by_time_left(db, site, operator, qa_user):
    start = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        minor = raised(operator, site, title="Label smudged", classification="minor")
        major = raised(operator, site, title="Glove torn", classification="major")
        critical = raised(operator, site, title="Bag leak", classification="critical")
    with time_machine.travel(start + timedelta(minutes=20), tick=False):
        page = client_for(qa_user).get(reverse("deviations:board"))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [row["number"] for row in rows] == [critical.number, major.number, minor.number]
    assert [row["deadline_css"] for row in rows] == ["pill-bad", "pill-ok", "pill-ok"]
    assert rows[0]["deadline_words"] == "acknowledge overdue by 5 min"
    assert "2026-03-03 09:15 UTC" in rows[0]["deadline"]
    with time_machine.travel(start + timedelta(hours=3, minutes=30), tick=False):
        page = client_for(qa_user).get(reverse("deviations:board"))
    # the major one has 30 minutes left
    assert [row["deadline_css"] for row in page.context["rows"]][1] == "pill-warn"


@pytest.mark.req("DEV-UI-001:filters")
def test_the_board_filters_by_site_class_impact_and_status(db, site, other_site, operator,
                                                           qa_user, roles):
    from guardian.shortcuts import assign_perm

    assign_perm("mes.view_site", qa_user, other_site)
    there = person("Operator", sites=[other_site], username="op-b")
    critical = raised(operator, site, classification="critical", patient_impact="yes")
    raised(operator, site, classification="minor", patient_impact="no")
    elsewhere = raised(there, other_site, classification="critical")
    client = client_for(qa_user)

    def numbers(**query):
        rows = client.get(reverse("deviations:board"), query).context["rows"]
        return {row["number"] for row in rows}

    assert numbers(site=other_site.pk) == {elsewhere.number}
    assert numbers(classification="critical") == {critical.number, elsewhere.number}
    assert numbers(patient_impact="yes") == {critical.number}
    workflow.cancel_deviation(actor=qa_user, deviation=critical, reason="Duplicate")
    assert numbers(status="cancelled") == {critical.number}
    assert critical.number not in numbers()


@pytest.mark.req("DEV-UI-001:queries")
def test_the_board_keeps_a_constant_number_of_queries_with_1000_open(
        db, site, operator, qa_user, django_assert_max_num_queries):
    raised(operator, site)
    client = client_for(qa_user)
    client.get(reverse("deviations:board"))  # warm the session and permission caches
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse("deviations:board")).status_code == 200
    small = len(few.captured_queries)

    now = datetime.now(UTC)
    batch = [Deviation(site=site, number=f"DEV-PLANT1-2026-{n:05d}", year=2026, sequence=n,
                       title=f"Deviation {n}", description="Bulk", detected_by=operator,
                       acknowledge_due_at=now + timedelta(minutes=n),
                       next_escalation_at=now + timedelta(minutes=n))
             for n in range(2, 1002)]
    audit.bulk_create_with_history(batch, Deviation, user=operator, reason="Load test")
    assert Deviation.objects.active().count() == 1001
    with django_assert_max_num_queries(small) as many:
        response = client.get(reverse("deviations:board"))
    assert response.status_code == 200
    assert len(response.context["rows"]) == 50
    assert len(many.captured_queries) == small


@pytest.mark.req("DEV-RAISE-002:terminal")
def test_the_terminal_asks_only_what_happened_and_fills_the_rest(db, site, other_site,
                                                                 operator, qa_user):
    subject = operator  # any record the operator may see, e.g. a step; here a person
    url = reverse("deviations:raise")
    params = {"subject": "mes.user", "id": subject.pk, "batch": "B-0042",
              "coi": "G123489654321"}
    client = client_for(operator)
    page = client.get(url, params)
    assert page.status_code == 200
    assert list(page.context["form"].fields) == ["title", "description", "immediate_actions"]
    assert b"B-0042" in page.content and b"G123489654321" in page.content

    response = client.post(url, {**params, "title": "Wrong bag scanned",
                                 "description": "Scanner beeped twice, label was of bed 4.",
                                 "immediate_actions": ""})
    deviation = Deviation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("deviations:detail", args=[deviation.pk])
    assert (deviation.site, deviation.subject, deviation.batch_number, deviation.patient_coi,
            deviation.source, deviation.detected_by) == (
        site, subject, "B-0042", "G123489654321", "manual", operator)
    assert deviation.subject_type == ContentType.objects.get_for_model(subject)


@pytest.mark.req("DEV-RAISE-002:terminal")
def test_the_terminal_refuses_an_empty_report_and_an_unknown_subject(db, site, operator):
    client = client_for(operator)
    url = reverse("deviations:raise")
    response = client.post(url, {"title": "", "description": ""})
    assert response.status_code == 400
    assert not Deviation.objects.exists()
    assert client.get(url, {"subject": "mes.nothing", "id": "1"}).status_code == 404
    assert client.get(url, {"subject": "mes.user", "id": "999999"}).status_code == 404


@pytest.mark.req("DEV-RAISE-002:button")
def test_the_reusable_raise_button_carries_the_subject(db, site, operator):
    html = Template('{% include "deviations/_raise_button.html" with subject=record '
                    'batch_number="B-1" %}').render(Context({
                        "record": operator, "perms": {"deviations": {"raise_deviation": True}},
                    }))
    assert f'href="/deviations/raise/?subject=mes.user&amp;id={operator.pk}&amp;batch=B-1"' \
        in html
    assert "Raise deviation" in html


@pytest.mark.req("DEV-SIG-001:acknowledge", "DEV-SIG-001:wrong-password", "DEV-UI-002:flows")
def test_acknowledging_in_the_ui_opens_the_sign_dialog_then_signs(db, site, operator,
                                                                   qa_user, password):
    deviation = raised(operator, site, classification="critical")
    client = client_for(qa_user)
    url = reverse("deviations:acknowledge", args=[deviation.pk])
    dialog = client.post(url, {"note": "Looking now"}, **HTMX)
    assert dialog.status_code == 200
    assert b"sign-dialog" in dialog.content and b"Acknowledged" in dialog.content
    assert not ElectronicSignature.objects.exists()

    wrong = client.post(url, {"note": "Looking now", "password": "nope"}, **HTMX)
    assert wrong.status_code == 403
    assert Deviation.objects.get(pk=deviation.pk).status == Status.OPEN

    done = client.post(url, {"note": "Looking now", "password": password}, **HTMX)
    assert done.status_code == 204
    assert done["HX-Redirect"] == reverse("deviations:detail", args=[deviation.pk])
    assert Deviation.objects.get(pk=deviation.pk).status == Status.ACKNOWLEDGED


@pytest.mark.req("DEV-IND-001:page")
def test_the_raiser_is_refused_in_the_disposition_dialog(db, site, qa_user, qa2, password):
    deviation = raised(qa_user, site, classification="critical")
    workflow.acknowledge_deviation(actor=qa2, password=password, deviation=deviation)
    response = client_for(qa_user).post(
        reverse("deviations:dispose", args=[deviation.pk]),
        {"decision": "continue", "rationale": "Fine", "password": password}, **HTMX)
    assert response.status_code == 403
    assert b"may not sign" in response.content
    assert not Deviation.objects.get(pk=deviation.pk).disposition


@pytest.mark.req("DEV-UI-002:timeline")
def test_the_deviation_page_shows_its_timeline(db, site, operator, qa_user, password):
    with time_machine.travel(datetime(2026, 3, 3, 9, 0, tzinfo=UTC), tick=False):
        deviation = raised(operator, site, classification="critical")
    workflow.add_comment(actor=operator, deviation=deviation, text="Bag set aside")
    workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
    page = client_for(qa_user).get(reverse("deviations:detail", args=[deviation.pk]))
    assert page.status_code == 200
    texts = [entry["text"] for entry in page.context["timeline"]]
    assert texts == ["Raised (manual)", "Bag set aside", "Acknowledged by Quentin Quality"]
    assert b"Acknowledged</span> by" in page.content


@pytest.mark.req("DEV-ESC-003:badge", "DEV-ESC-003:idle")
def test_the_live_badge_polls_without_keeping_the_session_alive(db, site, operator, qa_user,
                                                                settings):
    raised(operator, site, classification="critical",
           detected_at=datetime.now(UTC) - timedelta(hours=1))
    raised(operator, site)
    client = client_for(qa_user)
    board = client.get(reverse("deviations:board"))
    assert b'hx-get="/deviations/badge/"' in board.content
    assert f'"{settings.BACKGROUND_REQUEST_HEADER}": "1"'.encode() in board.content

    session = client.session
    session[LAST_ACTIVITY] = session[LAST_ACTIVITY] - 300
    session.save()
    before = client.session[LAST_ACTIVITY]
    badge = client.get(reverse("deviations:badge"),
                       headers={settings.BACKGROUND_REQUEST_HEADER: "1"})
    assert badge.status_code == 200
    assert (badge.context["waiting"], badge.context["overdue"]) == (2, 1)
    assert client.session[LAST_ACTIVITY] == before  # the poll did not count as activity


@pytest.mark.req("DEV-UI-003:configure", "DEV-UI-003:reason", "DEV-ESC-001:ladder")
def test_qa_configures_the_ladder_and_deadlines_with_reasons(db, site, qa_user, qa2):
    client = client_for(qa_user)
    url = reverse("deviations:settings", args=[site.code])
    assert client.get(url).status_code == 200
    client.post(url, {"what": "level", "name": "QA lead", "person": qa2.pk, "role": "",
                      "respond_within_minutes": 20, "reason": "New QA lead"})
    client.post(url, {"what": "policy", "tier": "major", "acknowledge_amount": 2,
                      "acknowledge_unit": "hours", "disposition_amount": "",
                      "disposition_unit": "", "reason": "Faster response for major"})
    level = EscalationLevel.objects.get()
    assert (level.position, level.name, level.person) == (1, "QA lead", qa2)
    assert level.history.get().history_change_reason == "New QA lead"
    from deviations.models import DeadlinePolicy

    policy = DeadlinePolicy.objects.get()
    assert (policy.acknowledge_amount, policy.acknowledge_unit) == (2, "hours")
    client.post(url, {"what": "retire", "level": level.pk, "reason": ""})
    assert EscalationLevel.objects.get().is_active  # no reason, no change
    client.post(url, {"what": "retire", "level": level.pk, "reason": "Left the company"})
    assert not EscalationLevel.objects.get().is_active


@pytest.mark.req("DEV-SCOPE-001:ui")
def test_the_deviation_page_permission_matrix(db, site, other_site, operator, qa_user, roles):
    deviation = raised(operator, site)
    nobody = person(None, sites=[site], username="visitor")
    elsewhere = person("QA Reviewer", sites=[other_site], username="qa-b")
    assert_permission_matrix(ui_client, reverse("deviations:detail", args=[deviation.pk]),
                             {NO_PERMISSION: nobody, OTHER_SITE: elsewhere,
                              ALLOWED: qa_user}, UI)


@pytest.mark.req("DEV-SCOPE-001:ui", "DEV-CAN-001:qa-only")
def test_cancel_from_the_page_needs_qa(db, site, operator, qa_user):
    deviation = raised(operator, site)
    url = reverse("deviations:cancel", args=[deviation.pk])
    assert client_for(operator).post(url, {"reason": "Mine"}).status_code == 403
    client_for(qa_user).post(url, {"reason": "Duplicate"})
    assert Deviation.objects.get(pk=deviation.pk).status == Status.CANCELLED


@pytest.mark.req("DEV-RAISE-001:records")
def test_an_attachment_downloads_as_a_file(db, site, operator, qa_user):
    deviation = raised(operator, site, source="automatic", rule="custody.cold_chain",
                       attachments=[("curve.svg", "image/svg+xml", b"<svg/>")])
    item = deviation.deviationattachments.get()
    response = client_for(qa_user).get(
        reverse("deviations:attachment", args=[deviation.pk, item.pk]))
    assert response.content == b"<svg/>"
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.req("DEV-UI-002:flows")
def test_every_stage_of_the_deviation_page_renders(db, site, operator, qa_user, qa2, password):
    deviation = raised(operator, site, classification="critical", batch_number="B-1",
                       source="automatic", rule="batchrecords.ool", data={"value": 9.1},
                       attachments=[("curve.svg", "image/svg+xml", b"<svg/>")])
    url = reverse("deviations:detail", args=[deviation.pk])
    qa, raiser = client_for(qa_user), client_for(operator)
    assert b"acknowledge-form" in qa.get(url).content
    assert b"acknowledge-form" not in raiser.get(url).content
    workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
    workflow.classify_deviation(actor=qa_user, password=password, deviation=deviation,
                                classification="critical", patient_impact="yes",
                                rationale="Patient material")
    workflow.dispose_material(actor=qa2, password=password, deviation=deviation,
                              decision="hold", rationale="Hold")
    workflow.record_investigation(actor=qa_user, password=password, deviation=deviation,
                                  root_cause_category="equipment", narrative="Worn seal")
    capa = workflow.add_capa(actor=qa_user, deviation=deviation, owner=operator,
                             description="Replace seals",
                             due_date=datetime.now(UTC).date() + timedelta(days=5))
    page = raiser.get(url)
    assert b"Sign as performed" in page.content  # the owner completes their CAPA
    workflow.complete_capa(actor=operator, password=password, capa=capa, note="Replaced")
    workflow.close_deviation(actor=qa2, password=password, deviation=deviation,
                             summary="Seals replaced")
    page = qa.get(url)
    assert page.status_code == 200
    assert page.content.count(b'class="manifestation') == 6
    assert b"close-form" not in page.content


@pytest.mark.req("DEV-UI-002:mine")
def test_home_panels_and_my_deviations(db, site, operator, qa_user):
    raised(operator, site, title="Gown torn")
    home = client_for(operator).get("/")
    assert b"Deviations you raised" in home.content and b"Gown torn" in home.content
    assert b"Deviations needing action" in client_for(qa_user).get("/").content
    mine = client_for(operator).get(reverse("deviations:mine"))
    assert [row["title"] for row in mine.context["rows"]] == ["Gown torn"]
    assert client_for(operator).get(reverse("deviations:board")).status_code == 403


@pytest.mark.req("DEV-UI-003:configure")
def test_retiring_an_unknown_or_malformed_level_is_a_404_and_changes_nothing(db, site, qa_user,
                                                                              qa2):
    client = client_for(qa_user)
    url = reverse("deviations:settings", args=[site.code])
    client.post(url, {"what": "level", "name": "QA lead", "person": qa2.pk, "role": "",
                      "respond_within_minutes": 20, "reason": "New QA lead"})
    for level in ("abc", "", "9999999"):
        response = client.post(url, {"what": "retire", "level": level, "reason": "Gone"})
        assert response.status_code == 404, level
    assert EscalationLevel.objects.get().is_active


@pytest.mark.req("DEV-UI-002:mine")
def test_my_deviations_keeps_a_constant_number_of_queries(db, site, operator,
                                                          django_assert_max_num_queries):
    raised(operator, site)
    client = client_for(operator)
    client.get(reverse("deviations:mine"))  # warm the session and permission caches
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse("deviations:mine")).status_code == 200
    for n in range(29):
        raised(operator, site, title=f"Gown torn {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("deviations:mine"))
    assert len(response.context["rows"]) == 30


@pytest.mark.req("DEV-RAISE-002:terminal")
def test_the_terminal_and_the_api_refuse_a_subject_on_another_site(db, site, other_site,
                                                                   operator):
    elsewhere = raised(person("QA Reviewer", sites=[other_site], username="qa-b"), other_site)
    client = client_for(operator)
    response = client.get(reverse("deviations:raise"),
                          {"subject": "deviations.deviation", "id": elsewhere.pk})
    assert response.status_code == 404
    response = api_client(operator).post("/api/v1/deviations/", {
        "site": site.code, "title": "t", "description": "d",
        "subject_type": "deviations.deviation", "subject_id": elsewhere.pk}, format="json")
    assert response.status_code == 400 and "subject_id" in response.json()["fields"]
    assert Deviation.objects.count() == 1
