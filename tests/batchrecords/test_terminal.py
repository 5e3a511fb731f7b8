"""The operator terminal: what to do now, one step per screen, the scan chips, the stop, and
signing performed from the screen (checks before the dialog, the dialog, the signature)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from batchrecords.models import BatchException, BatchStop, StepStatus, StepValue
from mes.models import ElectronicSignature
from scheduling.services.terminals import register_terminal
from tests.batchrecords.execution_kit import counts, finish_stage, perform, up_to, written
from tests.batchrecords.world import run as fresh
from tests.custody.factories import order_for
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    expect,
    ui_client,
)
from tests.scheduling.factories import make_suite

HTMX = {"HTTP_HX_REQUEST": "true"}


def terminal_client(world, user=None, secret=None) -> Client:
    client = Client()
    client.force_login(user or world.operator)
    client.cookies["mes_terminal"] = world.terminal_secret if secret is None else secret
    return client


def url(world, name: str, code: str | None = None) -> str:
    args = [world.batch.pk] + ([world.runs[code].pk] if code else [])
    return reverse(f"batchrecords:{name}", args=args)


def html_of(response) -> str:
    return response.content.decode()


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def other_label(world) -> str:
    patient = order_for(world.planner, manufacturing_site=world.site,
                        ordering_site=world.clinical, initials="ZZ",
                        hospital_record_number="H-0999").patient
    return patient.isbt.barcode_data


@pytest.mark.req("EBR-TERM-001:due-now", "EBR-TERM-001:header")
def test_the_terminal_opens_the_step_due_now_with_the_header_and_the_scan_field_first(world):
    client = terminal_client(world)

    response = client.get(url(world, "terminal"))

    assert response.status_code == 302
    assert response["Location"] == url(world, "terminal-step", "R01")
    html = html_of(client.get(response["Location"]))
    head = text(html.split('class="term-head"', 1)[1].split("</div>", 1)[0])
    assert world.patient.isbt.check in head and world.batch.number in head
    assert "R01 Verify the patient's bag" in head and "S1" in head
    assert world.operator.full_name in head and "data-idle-seconds" in html
    # Scan first: the scan field is the first input of the screen, and focused.
    inputs = re.findall(r'<input type="text"[^>]*>', html)
    assert 'id="id_scan"' in inputs[0] and "autofocus" in inputs[0]
    assert "<strong>patient label</strong>" in html  # instructions rendered and sanitised
    assert 'name="v_seal_intact" value="yes"' in html and "Sign performed" in html
    assert 'data-expected-minutes="10"' in html


@pytest.mark.req("EBR-TERM-001:pick")
def test_the_steps_of_a_parallel_group_are_listed_to_pick_from(world):
    perform(world, "R01")
    perform(world, "S01")

    html = html_of(terminal_client(world).get(url(world, "terminal")))

    due = text(html.split('id="due-now"', 1)[1].split("</ul>", 1)[0])
    assert "T01 Thaw the vector" in due and "T02 Warm the medium" in due
    assert "in any order" in html


@pytest.mark.req("EBR-TERM-001:fields")
def test_the_step_screen_shows_numbers_with_limits_choices_materials_and_calculations(world):
    perform(world, "R01")
    client = terminal_client(world)

    s01 = html_of(client.get(url(world, "terminal-step", "S01")))
    perform(world, "S01")
    finish_stage(world, ["T01", "T02"], minutes_ago=60)
    t03 = html_of(client.get(url(world, "terminal-step", "T03")))
    done = html_of(client.get(url(world, "terminal-step", "S01")))

    assert "Target 1.5 · alert 1 to 2 · action 0.5 to 3" in s01
    assert 'inputmode="decimal"' in s01 and "10^6/mL" in s01
    assert "MED-TEX: 100 mL ± 5" in s01 and 'id="slot-equipment_scan"' in s01
    assert 'name="v_method" value="Pump"' in t03 and "Calculated when you sign" in t03
    assert "5 * vcc * volume / titer" in t03
    assert re.search(r'name="v_added_at"[^>]*value="\d{4}-\d\d-\d\d \d\d:\d\d"', t03)
    assert "LV-CD19: 2.5 mL ± 0.25" in t03 and 'name="qty_LV-CD19"' in t03
    assert 'value="2.5"' in t03 and 'id="slot-lot_LV-CD19"' in t03
    # A done step shows what was entered, not a form.
    assert "Recorded at this step" in done and "Sign performed" not in done
    assert "lot TX-1 · 100 mL" in text(done) and "CS-01" in done


@pytest.mark.req("EBR-TERM-002:unregistered")
def test_a_browser_that_is_not_a_registered_terminal_is_told_so_and_what_to_do(world):
    for secret in ("", "not-a-terminal"):
        client = terminal_client(world, secret=secret)

        for page in (url(world, "terminal"), url(world, "terminal-step", "R01")):
            response = client.get(page)

            assert response.status_code == 403
            html = text(html_of(response))
            assert "not a registered terminal" in html and "Supervisor" in html
            assert "Sign performed" not in html


@pytest.mark.req("EBR-TERM-002:wrong-suite")
def test_a_terminal_of_another_suite_is_told_which_suite_the_batch_is_made_in(world):
    other = make_suite(world.admin, world.site, "S2")
    _terminal, secret = register_terminal(actor=world.supervisor, suite=other, name="S2 bench")

    response = terminal_client(world, secret=secret).get(url(world, "terminal-step", "R01"))

    assert response.status_code == 403
    assert "registered to another suite" in html_of(response) and "suite S1" in html_of(response)


@pytest.mark.req("EBR-TERM-003:chips")
def test_each_scan_is_checked_at_once_and_an_accepted_one_fills_its_slot(world):
    perform(world, "R01")
    client = terminal_client(world)
    before = counts(world)

    lot = client.post(url(world, "terminal-scan", "S01"), {"scan": "TX-1"}, **HTMX)
    equipment = client.post(url(world, "terminal-scan", "S01"), {"scan": "CS-01"}, **HTMX)
    wrong = client.post(url(world, "terminal-scan", "S01"), {"scan": "BR-01"}, **HTMX)
    # A number that merely looks like a DIN is not taken for a patient's label.
    unknown = client.post(url(world, "terminal-scan", "S01"), {"scan": "9999999999999"},
                          **HTMX)

    assert lot.status_code == equipment.status_code == wrong.status_code == 200
    assert "chip-ok" in html_of(lot) and "Lot TX-1 (MED-TEX) · 100 mL" in html_of(lot)
    assert "chip-bad" in html_of(unknown) and "is not a lot received" in html_of(unknown)
    assert re.search(r'<input type="hidden" id="id_lot_MED-TEX" name="lot_MED-TEX" '
                     r'value="TX-1" hx-swap-oob="true">', html_of(lot))
    assert "chip-ok" in html_of(equipment) and 'name="equipment_scan" value="CS-01"' in html_of(
        equipment)
    assert "chip-bad" in html_of(wrong) and "slot-equipment_scan" not in html_of(wrong)
    assert "CELL-SEP" in html_of(wrong)
    # only the two refused scans are written: each a refused-scan exception of the step
    assert written(before, counts(world)) == {"exceptions": (0, 2)}


@pytest.mark.req("EBR-TERM-003:label")
def test_the_patients_label_gives_a_chip_and_a_wrong_label_sends_the_terminal_to_the_stop(world):
    client = terminal_client(world)
    right = client.post(url(world, "terminal-scan", "R01"), {"scan": world.label}, **HTMX)

    wrong = client.post(url(world, "terminal-scan", "R01"), {"scan": other_label(world)},
                        **HTMX)

    assert "chip-ok" in html_of(right) and 'name="label_scan"' in html_of(right)
    assert wrong["HX-Redirect"] == url(world, "terminal")
    stop = BatchStop.objects.get(batch=world.batch, cleared_at__isnull=True)
    assert stop.exception.deviation.classification == "critical"


@pytest.mark.req("EBR-TERM-004:blocks")
def test_the_stop_screen_replaces_every_screen_and_blocks_every_action(world):
    client = terminal_client(world)
    client.post(url(world, "terminal-scan", "R01"), {"scan": other_label(world)}, **HTMX)
    before = counts(world)

    pages = [client.get(url(world, "terminal")), client.get(url(world, "terminal-step", "R01"))]
    sign = client.post(url(world, "terminal-perform", "R01"),
                       {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes"},
                       **HTMX)
    scan = client.post(url(world, "terminal-scan", "R01"), {"scan": world.label}, **HTMX)

    for page in pages:
        html = html_of(page)
        assert 'id="batch-stop"' in html and "STOP: batch" in html
        assert "QA" in html and "a Supervisor clears this stop" in text(html)
        assert "Sign performed" not in html and 'id="id_scan"' not in html
        assert "Clear the stop" not in html  # an operator cannot clear it
    assert sign.status_code == 204 and sign["HX-Redirect"] == url(world, "terminal")
    assert "chip-bad" in html_of(scan) and "stopped" in html_of(scan)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-004:clear")
def test_a_supervisor_clears_the_stop_from_the_terminal_with_a_signature(world):
    terminal_client(world).post(url(world, "terminal-scan", "R01"),
                                {"scan": other_label(world)}, **HTMX)
    client = terminal_client(world, world.supervisor)
    assert "Clear the stop (Supervisor)" in html_of(client.get(url(world, "terminal")))
    clear = url(world, "clear-stop")

    empty = client.post(clear, {"reason": ""}, **HTMX)
    dialog = client.post(clear, {"reason": "Label of the bag confirmed with QA"}, **HTMX)
    signed = client.post(clear, {"reason": "Label of the bag confirmed with QA",
                                 "password": world.password}, **HTMX)

    assert empty.status_code == 400 and "A reason is required." in html_of(empty)
    assert "sign-dialog" not in html_of(empty)
    assert "sign-dialog" in html_of(dialog) and "Reviewed" in html_of(dialog)
    assert signed.status_code == 204
    assert not BatchStop.objects.filter(batch=world.batch, cleared_at__isnull=True).exists()
    assert terminal_client(world).get(url(world, "terminal")).status_code == 302


@pytest.mark.req("EBR-TERM-005:dialog", "EBR-TERM-005:signed")
def test_the_operator_signs_performed_from_the_screen(world):
    client = terminal_client(world)
    entered = {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes",
               "comment": ""}

    dialog = client.post(url(world, "terminal-perform", "R01"), entered, **HTMX)
    assert dialog.status_code == 200 and "sign-dialog" in html_of(dialog)
    assert 'name="v_seal_intact" value="yes"' in html_of(dialog)
    # the dialog names the patient by the COI tag (check character boxed) and the batch number
    assert '<span class="coi-check"' in html_of(dialog)
    assert f'<span class="batch-number">{world.batch.number}</span>' in html_of(dialog)
    assert fresh(world, "R01").status == StepStatus.PENDING

    signed = client.post(url(world, "terminal-perform", "R01"),
                         {**entered, "password": world.password}, **HTMX)

    assert signed.status_code == 204 and signed["HX-Redirect"] == url(world, "terminal")
    step = fresh(world, "R01")
    assert step.status == StepStatus.DONE and step.performed_by == world.operator
    assert ElectronicSignature.objects.filter(object_id=step.pk, meaning="performed").count() == 1
    assert StepValue.objects.get(run=step).value == "yes"


@pytest.mark.req("EBR-TERM-003:label")
def test_a_wrong_label_sent_with_the_signature_stops_the_batch_and_the_terminal_shows_it(world):
    response = terminal_client(world).post(
        url(world, "terminal-perform", "R01"),
        {"revision": 0, "label_scan": other_label(world), "v_seal_intact": "yes",
         "password": world.password}, **HTMX)

    assert response.status_code == 204 and response["HX-Redirect"] == url(world, "terminal")
    assert BatchStop.objects.filter(batch=world.batch, cleared_at__isnull=True).exists()
    assert fresh(world, "R01").status == StepStatus.PENDING


@pytest.mark.req("EBR-TERM-005:dialog")
def test_without_javascript_the_dialog_is_a_page_and_signing_redirects(world):
    client = terminal_client(world)
    entered = {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes"}

    page = client.post(url(world, "terminal-perform", "R01"), entered)
    signed = client.post(url(world, "terminal-perform", "R01"),
                         {**entered, "password": world.password})

    assert page.status_code == 200 and "sign-dialog" in html_of(page)
    assert "<html" in html_of(page)
    assert signed.status_code == 302 and signed["Location"] == url(world, "terminal")


@pytest.mark.req("EBR-TERM-006:turn")
def test_a_cancelled_batch_offers_no_signature(world):
    from batchrecords.services.batches import cancel_batch

    cancel_batch(actor=world.supervisor, batch=world.batch, reason="Patient withdrew")
    client = terminal_client(world)

    home = html_of(client.get(url(world, "terminal")))
    step = html_of(client.get(url(world, "terminal-step", "R01")))

    assert 'id="nothing-to-do"' in home and "cancelled" in home
    assert 'id="cannot-sign"' in step and "Sign performed" not in step


@pytest.mark.req("EBR-TERM-006:before-dialog")
def test_a_refusal_is_shown_at_its_field_and_in_the_summary_before_any_password(world):
    client = terminal_client(world)
    before = counts(world)

    response = client.post(url(world, "terminal-perform", "R01"),
                           {"revision": 0, "label_scan": world.label}, **HTMX)

    html = html_of(response)
    assert response.status_code == 400 and "sign-dialog" not in html
    assert response["HX-Retarget"] == "#step-card"
    summary = html.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert "Enter every required value: Seal intact" in summary
    assert 'href="#id_v_seal_intact"' in summary
    assert 'id="id_v_seal_intact-error"' in html
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-006:label")
def test_signing_without_the_patients_label_is_refused_at_its_slot(world):
    before = counts(world)

    response = terminal_client(world).post(url(world, "terminal-perform", "R01"),
                                           {"revision": 0, "v_seal_intact": "yes"}, **HTMX)

    html = html_of(response)
    assert "Scan the patient&#x27;s label on the material first." in html
    assert 'href="#slot-label_scan"' in html and 'id="label_scan-error"' in html
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-006:password")
def test_a_wrong_password_keeps_the_dialog_with_its_error_and_writes_nothing(world):
    before = counts(world)

    response = terminal_client(world).post(
        url(world, "terminal-perform", "R01"),
        {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes",
         "password": "not-mine"}, **HTMX)

    assert "sign-dialog" in html_of(response)
    assert "The password is not correct." in html_of(response)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-006:stale")
def test_a_stale_screen_shows_the_conflict_and_a_reload_link(world):
    client = terminal_client(world)
    entered = {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes"}
    perform(world, "R01")
    before = counts(world)

    response = client.post(url(world, "terminal-perform", "R01"), entered, **HTMX)

    html = html_of(response)
    assert response.status_code == 409
    assert "changed by Ann Operator since your screen was loaded" in html
    assert "Reload the step" in html and "sign-dialog" not in html
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-006:turn")
def test_a_step_not_due_yet_says_why_instead_of_offering_the_signature(world):
    html = html_of(terminal_client(world).get(url(world, "terminal-step", "S01")))

    assert 'id="turn-problem"' in html and "finish the earlier steps first" in html
    assert "Sign performed" not in html


@pytest.mark.req("EBR-TERM-007:performer", "EBR-TERM-007:verifier")
def test_the_performer_is_told_a_second_person_verifies_and_the_verifier_signs(world):
    up_to(world, "T03")
    perform(world, "T03")
    before = counts(world)
    path = url(world, "terminal-step", "T03")

    mine = html_of(terminal_client(world).get(path))
    refused = terminal_client(world).post(url(world, "terminal-verify", "T03"),
                                          {"revision": fresh(world, "T03").revision}, **HTMX)
    theirs = html_of(terminal_client(world, world.verifier).get(path))
    listed = html_of(terminal_client(world, world.verifier).get(url(world, "terminal")))

    assert 'id="cannot-verify"' in mine and "a second person verifies it" in mine
    assert "Sign verified" not in mine
    assert refused.status_code == 403 and "sign-dialog" not in html_of(refused)
    assert "a second person verifies it" in html_of(refused)
    assert written(before, counts(world)) == {}
    assert "Sign verified" in theirs and "Pump" in theirs and "Verify T03" in listed
    client = terminal_client(world, world.verifier)
    revision = fresh(world, "T03").revision
    dialog = client.post(url(world, "terminal-verify", "T03"), {"revision": revision}, **HTMX)
    assert "sign-dialog" in html_of(dialog) and "Verified" in html_of(dialog)
    signed = client.post(url(world, "terminal-verify", "T03"),
                         {"revision": revision, "password": world.password}, **HTMX)
    assert signed.status_code == 204 and fresh(world, "T03").verified_by == world.verifier


@pytest.mark.req("EBR-TERM-007:performer")
def test_a_step_not_performed_is_not_offered_for_verification(world):
    before = counts(world)

    response = terminal_client(world, world.verifier).post(
        url(world, "terminal-verify", "R01"), {"revision": 0}, **HTMX)

    assert response.status_code == 409 and "sign-dialog" not in html_of(response)
    assert "there is nothing to verify" in html_of(response)
    assert written(before, counts(world)) == {}


@pytest.mark.req("EBR-TERM-008:na")
def test_not_applicable_needs_a_reason_and_is_offered_only_where_allowed(world):
    up_to(world, "T01")
    client = terminal_client(world)
    assert "Not applicable…" not in html_of(client.get(url(world, "terminal-step", "T01")))
    assert "Not applicable…" in html_of(client.get(url(world, "terminal-step", "T02")))
    before = counts(world)

    empty = client.post(url(world, "terminal-na", "T02"), {"revision": 0, "reason": " "},
                        **HTMX)
    assert empty.status_code == 400 and "A reason is required." in html_of(empty)
    assert written(before, counts(world)) == {}
    signed = client.post(url(world, "terminal-na", "T02"),
                         {"revision": 0, "reason": "Medium pre-warmed", "password":
                          world.password}, **HTMX)

    assert signed.status_code == 204
    step = fresh(world, "T02")
    assert step.status == StepStatus.NOT_APPLICABLE and step.na_reason == "Medium pre-warmed"


@pytest.mark.req("EBR-TERM-008:correct")
def test_a_value_is_corrected_with_a_reason_and_a_signature_and_the_original_stays(world):
    perform(world, "R01")
    perform(world, "S01")
    client = terminal_client(world)
    page = client.get(url(world, "terminal-correct", "S01"))
    assert page.status_code == 200 and 'value="vcc"' in html_of(page)
    revision = fresh(world, "S01").revision
    before = counts(world)

    no_reason = client.post(url(world, "terminal-correct", "S01"),
                            {"revision": revision, "field_key": "vcc", "value": "1.6"}, **HTMX)
    assert no_reason.status_code == 400 and "sign-dialog" not in html_of(no_reason)
    assert written(before, counts(world)) == {}
    signed = client.post(url(world, "terminal-correct", "S01"),
                         {"revision": revision, "field_key": "vcc", "value": "1.6",
                          "reason": "Transcription error", "password": world.password},
                         **HTMX)

    assert signed.status_code == 204
    html = html_of(client.get(url(world, "terminal-step", "S01")))
    assert "<del>1.5 10^6/mL</del>" in html and "Transcription error" in html
    assert "Sign this step again" in html and 'name="v_vcc"' not in html
    again = client.post(url(world, "terminal-perform", "S01"),
                        {"revision": fresh(world, "S01").revision, "password": world.password},
                        **HTMX)
    assert again.status_code == 204 and fresh(world, "S01").status == StepStatus.DONE


@pytest.mark.req("EBR-TERM-008:comment")
def test_a_comment_is_added_to_a_step(world):
    client = terminal_client(world)

    response = client.post(url(world, "terminal-comment", "R01"), {"text": "Bag slightly cold"})

    assert response.status_code == 302
    assert BatchException.objects.get(run=world.runs["R01"], kind="comment").detail == (
        "Bag slightly cold")


@pytest.mark.req("EBR-TERM-002:access")
def test_the_terminal_pages_are_seen_only_with_the_permission_at_the_batchs_site(
        world, other_site):
    people = {NO_PERMISSION: person(None, sites=[world.site], username="nobody"),
              OTHER_SITE: person("Operator", sites=[other_site], username="far-op"),
              ALLOWED: world.operator}

    def at_terminal(user) -> Client:
        client = ui_client(user)
        client.cookies["mes_terminal"] = world.terminal_secret
        return client

    for page in (url(world, "terminal"), url(world, "terminal-step", "R01"),
                 url(world, "terminal-correct", "R01")):
        assert_permission_matrix(at_terminal, page, people,
                                 {**UI, ALLOWED: expect(200, 302)})
    signed = {"revision": 0, "label_scan": world.label, "v_seal_intact": "yes",
              "password": world.password}
    assert_permission_matrix(at_terminal, url(world, "terminal-perform", "R01"),
                             {k: v for k, v in people.items() if k != ALLOWED},
                             {k: v for k, v in UI.items() if k != ALLOWED}, method="post",
                             data=signed, state=lambda: counts(world))
    assert at_terminal(world.operator).get(url(world, "clear-stop")).status_code == 403


def _element(html: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    return re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html).group(0)


@pytest.mark.req("EBR-TERM-003:alarm")
def test_an_expired_or_unreleased_lot_raises_the_alarm_and_another_refusal_does_not(world):
    import datetime as dt

    from django.utils import timezone

    from reagents.models import LotStatus
    from tests.reagents.factories import lot

    lot(site=world.site, material_=world.medium, supplier_lot="TX-OLD",
        expiry=timezone.now().date() - dt.timedelta(days=2))
    lot(site=world.site, material_=world.medium, supplier_lot="TX-Q",
        status=LotStatus.QUARANTINE)
    perform(world, "R01")
    client = terminal_client(world)
    before = counts(world)

    def scanned(barcode):
        return html_of(client.post(url(world, "terminal-scan", "S01"), {"scan": barcode},
                                   **HTMX))

    expired, quarantined = scanned("TX-OLD"), scanned("TX-Q")
    wrong_material, unknown = scanned("VV-1"), scanned("NO-SUCH-LOT")

    for html, why in ((expired, "expired on"), (quarantined, "is quarantine")):
        alarm = html.split('id="scan-alarm-slot"', 1)[1]
        assert 'class="term-alarm"' in alarm and "data-acknowledge-alarm" in alarm
        assert "STOP: do not use this lot" in alarm and why in alarm
        assert "chip-bad" in html  # and its own error at the scan field
    for html in (wrong_material, unknown):
        assert "chip-bad" in html and "term-alarm" not in html
        assert '<div id="scan-alarm-slot" hx-swap-oob="true"></div>' in html  # cleared
    assert written(before, counts(world)) == {"exceptions": (0, 4)}  # the four refused scans
    # Without htmx the step's page carries the alarm itself.
    page = html_of(client.post(url(world, "terminal-scan", "S01"), {"scan": "TX-OLD"}))
    assert 'class="term-alarm"' in page and 'hx-swap-oob' not in page


@pytest.mark.req("EBR-TERM-003:alarm")
def test_equipment_not_ready_for_use_raises_the_alarm(world):
    import datetime as dt

    from mes import audit

    perform(world, "R01")
    separator = world.separator
    separator.calibration_due = dt.date(2020, 1, 1)
    audit.stamp(separator, user=world.admin, reason="Test: calibration overdue")
    separator.save()

    html = html_of(terminal_client(world).post(url(world, "terminal-scan", "S01"),
                                               {"scan": "CS-01"}, **HTMX))

    assert "STOP: do not use this equipment" in html and "chip-bad" in html


@pytest.mark.req("EBR-TERM-003:replace")
def test_each_scans_answer_replaces_the_last_under_the_scan_field(world):
    html = html_of(terminal_client(world).get(url(world, "terminal-step", "R01")))

    form = _element(html, "scan-form")
    assert 'hx-target="#scan-chips"' in form and 'hx-swap="innerHTML"' in form


@pytest.mark.req("EBR-TERM-001:calm")
def test_not_yet_and_not_for_you_are_told_calmly_not_in_the_alarm_red(world):
    not_yet = html_of(terminal_client(world).get(url(world, "terminal-step", "S01")))
    up_to(world, "T03")
    perform(world, "T03")
    own = html_of(terminal_client(world).get(url(world, "terminal-step", "T03")))

    assert 'class="term-notice"' in _element(not_yet, "turn-problem")
    assert 'class="term-notice"' in _element(own, "cannot-verify")
    for html in (not_yet, own):
        assert "term-refused" not in html and 'role="alert"' not in html


@pytest.mark.req("EBR-TERM-002:read")
def test_a_browser_that_is_not_a_terminal_is_offered_to_read_the_batch(world):
    html = html_of(terminal_client(world, secret="").get(url(world, "terminal")))

    detail = reverse("batchrecords:batch-detail", args=[world.batch.pk])
    assert f'id="read-batch" href="{detail}"' in html
    assert 'class="term-warning" id="terminal-problem"' in html


@pytest.mark.req("EBR-TERM-008:resign", "EBR-TERM-008:unit")
def test_a_corrected_step_says_it_is_to_be_signed_again_and_the_original_has_its_unit(world):
    from batchrecords.services.corrections import correct_value

    perform(world, "R01")
    perform(world, "S01")
    s01 = fresh(world, "S01")
    correct_value(actor=world.operator, password=world.password, run=s01,
                  revision=s01.revision, terminal=world.terminal, field_key="volume",
                  value="98", reason="Read the wrong graduation")

    html = html_of(terminal_client(world).get(url(world, "terminal-step", "S01")))

    assert re.search(r'id="step-status">To be signed again<', html)
    assert "<del>100 mL</del>" in html
    assert "data-step-timer" not in html


@pytest.mark.req("EBR-TERM-001:idle")
def test_the_idle_countdown_starts_from_the_servers_clock_of_the_last_activity(world, settings):
    import time

    from mes.middleware import LAST_ACTIVITY

    client = terminal_client(world)
    client.get(url(world, "terminal"))
    session = client.session
    # Written less than a minute ago: the server does not move its clock on this request.
    session[LAST_ACTIVITY] = time.time() - 50
    session.save()

    html = html_of(client.get(url(world, "terminal-step", "R01")))

    limit = settings.SESSION_IDLE_MINUTES * 60
    left = int(re.search(r'data-idle-remaining="(\d+)"', html).group(1))
    assert f'data-idle-seconds="{limit}"' in html
    assert limit - 52 <= left <= limit - 49
