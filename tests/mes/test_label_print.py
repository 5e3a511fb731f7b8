"""The COI label sheet prints the labels alone, from a print button, and shows the scanner
string so that a printed label can be checked with a scan before it is used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.custody.factories import clinic, order_for, plant
from tests.mes.factories import person

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def patient(roles):
    site, hospital = plant(), clinic()
    planner = person("Planner", sites=[site, hospital], username="planner1")
    return order_for(planner, manufacturing_site=site, ordering_site=hospital).patient


@pytest.fixture
def operator(patient):
    return person("Operator", sites=[patient.site, patient.treating_site], username="op1")


@pytest.mark.req("UI-LABEL-001:scanner-string")
def test_the_label_sheet_shows_the_scanner_string_to_check_a_printed_label(
    client, patient, operator
):
    client.force_login(operator)
    page = client.get(reverse("custody:label-sheet", args=[patient.pk])).content.decode()
    data = patient.isbt.barcode_data
    assert data.startswith("=") and len(data) == 16
    check = re.search(r'<p class="label-check" id="scanner-string">(.*?)</p>', page).group(1)
    assert re.sub(r"<[^>]+>", "", check) == data
    # It is for the screen only: the check sits in the part that does not print.
    assert re.search(r'<div class="card no-print" id="label-check">.*scanner-string', page, re.S)


@pytest.mark.req("UI-LABEL-001:print-button")
def test_the_label_sheet_has_a_print_button_that_the_shared_script_wires(client, patient, operator):
    client.force_login(operator)
    page = client.get(reverse("custody:label-sheet", args=[patient.pk])).content.decode()
    assert '<button class="btn" type="button" data-print>Print labels</button>' in page
    assert "onclick" not in page  # CSP forbids inline handlers: mes.js wires [data-print]
    script = (ROOT / "static" / "js" / "mes.js").read_text()
    assert re.search(r'closest\("\[data-print\]"\)\) \{ window\.print\(\); \}', script)


@pytest.mark.req("UI-LABEL-001:print-styles")
def test_print_styles_keep_only_the_labels():
    css = (ROOT / "static" / "css" / "mes.css").read_text()
    print_blocks = " ".join(re.findall(r"@media print \{((?:[^{}]*\{[^}]*\})+)\s*\}", css))
    assert re.search(
        r"\.topbar, \.footer, \.no-print, \.messages, form \{ display: none", print_blocks
    )
    assert (
        ".page:has(> .label-sheet) > :not(.label-sheet) { display: none !important; }"
        in print_blocks
    )
    assert ".label-sheet .label-img { break-after: page; }" in print_blocks
