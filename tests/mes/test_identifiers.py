"""One rendering per identifier, date and quantity (UI.md, "Identifiers, dates and numbers";
issue 13 item 6): the functions in mes.identifiers, the filters over them, and a scan of
every template for the ad-hoc renderings they replace."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template import engines

from mes import identifiers

ROOT = Path(__file__).resolve().parents[2]
APPS = ("mes", "custody", "deviations", "reagents", "training", "scheduling", "batchrecords")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NOV_30_13_05_UTC = dt.datetime(2026, 11, 30, 13, 5, 9, tzinfo=dt.UTC)


def patient(din="G123426000013", flags="00", coi=None):
    return SimpleNamespace(din=din, din_flags=flags, coi=coi or din)


def render(source: str, **context) -> str:
    return engines["django"].from_string("{% load mes_tags %}" + source).render(context)


# --- COI -------------------------------------------------------------------------------------


@pytest.mark.req("UI-ID-001")
def test_the_coi_is_grouped_with_its_flags_and_the_check_character_boxed():
    check = identifiers.coi_text(patient())[-2]
    assert str(identifiers.coi(patient())) == (
        '<span class="coi">G1234 26 000013 <small class="coi-flags">00</small> '
        f'<span class="coi-check" title="check character">{check}</span></span>'
    )
    # the check character is ISO/IEC 7064 MOD 37-2 over the DIN (the COI-DIN-001 example)
    assert identifiers.coi_text("G123489654321") == "G1234 89 654321 00 [Y]"


@pytest.mark.req("UI-ID-001")
def test_a_coi_string_a_scan_and_a_patient_render_the_same():
    # given the same DIN as a patient, its bare COI string and the scanner string
    expected = str(identifiers.coi(patient()))
    assert str(identifiers.coi("G123426000013")) == expected
    assert str(identifiers.coi("=G12342600001300")) == expected
    assert str(identifiers.coi("g1234 26 000013")) == expected


@pytest.mark.req("UI-ID-001")
def test_a_coi_of_another_scheme_is_shown_as_issued_and_escaped():
    assert str(identifiers.coi("SPONSOR-42")) == '<span class="coi">SPONSOR-42</span>'
    external = SimpleNamespace(din="", din_flags="", coi="<b>X-1</b>")
    assert str(identifiers.coi(external)) == '<span class="coi">&lt;b&gt;X-1&lt;/b&gt;</span>'
    assert identifiers.coi("") == "" and identifiers.coi(None) == ""


@pytest.mark.req("UI-ID-001")
def test_the_coi_filter_renders_the_same_as_python():
    assert render("{{ p|coi }}", p=patient()) == str(identifiers.coi(patient()))
    assert render("{{ p|coi_text }}", p=patient()) == identifiers.coi_text(patient())


# --- Scanner string --------------------------------------------------------------------------


@pytest.mark.req("UI-ID-002")
def test_the_scanner_string_is_the_data_identifier_the_din_and_the_flags():
    assert str(identifiers.scan_string(patient())) == (
        '<code class="scan-string">=G12342600001300</code>'
    )
    assert str(identifiers.scan_string("G123426000013")) == (
        '<code class="scan-string">=G12342600001300</code>'
    )
    assert render("{{ p|scan_string }}", p=patient(flags="97")) == (
        '<code class="scan-string">=G12342600001397</code>'
    )


# --- GTINs, lots, batches --------------------------------------------------------------------


@pytest.mark.req("UI-ID-003")
def test_gtins_are_never_run_together():
    # given a material with two GTINs (objects with a gtin attribute, as the related manager)
    gtins = [SimpleNamespace(gtin="04012345000016"), SimpleNamespace(gtin="4012345000016")]
    html = str(identifiers.gtin_list(gtins))
    assert html == (
        '<span class="gtin">04012345000016</span>, <span class="gtin">4012345000016</span>'
    )
    assert re.sub(r"<[^>]+>", "", html) == "04012345000016, 4012345000016"


@pytest.mark.req("UI-ID-004")
def test_lot_batch_and_gtin_numbers_carry_a_class_that_never_wraps():
    assert str(identifiers.lot_number("VV24-0202")) == '<span class="lot-number">VV24-0202</span>'
    assert str(identifiers.batch_number("LEI-B-0107")) == (
        '<span class="batch-number">LEI-B-0107</span>'
    )
    css = (ROOT / "static" / "css" / "mes.css").read_text()
    for selector in (".lot-number", ".batch-number", ".gtin", ".coi", ".when", ".day", ".qty"):
        rule = re.search(r"([^{}]*)\{([^}]*)\}", css[css.index("/* Identifiers") :])
        assert rule and selector in rule.group(1) and "white-space: nowrap" in rule.group(2), (
            selector
        )


# --- Dates and times -------------------------------------------------------------------------


@pytest.mark.req("UI-ID-005")
def test_a_moment_is_iso_8601_in_the_sites_zone_with_its_abbreviation():
    site = SimpleNamespace(zone=BERLIN)
    assert identifiers.when_text(NOV_30_13_05_UTC, site) == "2026-11-30 14:05 CET"
    assert identifiers.when_text(NOV_30_13_05_UTC.replace(month=7), site) == (
        "2026-07-30 15:05 CEST"
    )
    assert identifiers.when_text(NOV_30_13_05_UTC, "America/New_York") == ("2026-11-30 08:05 EST")
    assert identifiers.when_text(NOV_30_13_05_UTC) == "2026-11-30 13:05 UTC"
    assert identifiers.when_text(NOV_30_13_05_UTC, site, seconds=True) == (
        "2026-11-30 14:05:09 CET"
    )


@pytest.mark.req("UI-ID-005")
def test_a_moment_is_a_time_element_with_the_exact_instant():
    assert render("{{ t|when:site }}", t=NOV_30_13_05_UTC, site=SimpleNamespace(zone=BERLIN)) == (
        '<time class="when" datetime="2026-11-30T13:05:09+00:00">2026-11-30 14:05 CET</time>'
    )
    assert render("{{ t|when_seconds }}", t=NOV_30_13_05_UTC) == (
        '<time class="when" datetime="2026-11-30T13:05:09+00:00">2026-11-30 13:05:09 UTC</time>'
    )
    assert render("{{ t|when }}", t=None) == ""
    # the attribute is the exact instant, to the microsecond, whatever zone is shown
    exact = NOV_30_13_05_UTC.replace(microsecond=234510)
    assert 'datetime="2026-11-30T13:05:09.234510+00:00"' in str(
        identifiers.when(exact, "Asia/Tokyo")
    )
    assert render("{{ t|when_text:zone }}", t=exact, zone="Asia/Tokyo") == "2026-11-30 22:05 JST"


@pytest.mark.req("UI-ID-005")
def test_a_day_is_iso_8601_and_a_moment_counts_in_the_sites_zone():
    assert str(identifiers.day(dt.date(2026, 3, 1))) == (
        '<time class="day" datetime="2026-03-01">2026-03-01</time>'
    )
    # 23:30 UTC on 30 November is already 1 December in Berlin
    late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
    assert identifiers.day_text(late, SimpleNamespace(zone=BERLIN)) == "2026-12-01"
    assert identifiers.day_text(late) == "2026-11-30"
    assert render("{{ d|day }}", d=dt.date(1971, 3, 14)) == (
        '<time class="day" datetime="1971-03-14">1971-03-14</time>'
    )


# --- Quantities ------------------------------------------------------------------------------


@pytest.mark.req("UI-ID-006")
def test_a_quantity_carries_its_unit_and_is_never_in_exponent_form():
    assert str(identifiers.quantity(Decimal("12.500"), "mL")) == (
        '<span class="qty">12.5 mL</span>'
    )
    # Decimal("10.000").normalize() is 1E+1: the rendering must say 10
    assert str(identifiers.quantity(Decimal("10.000"), "mL")) == ('<span class="qty">10 mL</span>')
    assert render("{{ q|quantity:unit }}", q=Decimal("100"), unit="vials") == (
        '<span class="qty">100 vials</span>'
    )
    assert render("{{ q|quantity:unit }}", q=Decimal("1"), unit="<µL>") == (
        '<span class="qty">1 &lt;µL&gt;</span>'
    )


@pytest.mark.req("UI-ID-001", "UI-ID-005")
def test_the_filters_are_pure():
    # a list page calls them once per cell: this test has no database (pytest-django raises
    # on any query), so a filter that queried would fail here
    for _ in range(100):
        identifiers.coi(patient())
        identifiers.when(NOV_30_13_05_UTC, SimpleNamespace(zone=BERLIN))
        identifiers.quantity(Decimal("1.5"), "mL")


# --- No ad-hoc renderings left in the templates ---------------------------------------------

ATTRIBUTE = re.compile(r"""\s[\w:-]+=("[^"]*"|'[^']*')""")
COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)
TITLE = re.compile(r"\{% block title %\}(.*?)\{% endblock %\}", re.S)
OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
IDENTIFIER = re.compile(r"(^|[.\s])(coi|patient_coi|supplier_lot|batch_number|gtin|barcode_data)$")
FILTER = re.compile(
    r"\|\s*(coi|coi_text|scan_string|lot_number|batch_number|gtin|gtin_list|"
    r"urlencode)\b"
)
RULES = [
    (re.compile(r"\{%\s*now\b"), "{% now %} (use {{ moment|when:site }})"),
    (re.compile(r"\{%\s*(coi|local_time)\s"), "an old custody tag (use the mes_tags filters)"),
]


def ad_hoc_renderings(source: str) -> list[str]:
    """What a template prints without the one rendering: dates through |date or |time,
    identifiers and quantities printed raw. Attribute values (form values, URLs, alt text)
    and the page title are plain text by nature and are not read."""
    source = COMMENT.sub("", source)
    problems = [why for rule, why in RULES if rule.search(source)]
    for title in TITLE.findall(source):
        for expression in OUTPUT.findall(title):
            if (
                IDENTIFIER.search(expression.split("|")[0].strip())
                and "|coi_text" not in expression
                and "coi" in expression
            ):
                problems.append(f"{{{{{expression}}}}} in the title (use |coi_text)")
    body = ATTRIBUTE.sub(" ", TITLE.sub("", source))
    for expression in OUTPUT.findall(body):
        text = expression.strip()
        if re.search(r"\|\s*(date|time)\s*:", text):
            problems.append(f"{{{{ {text} }}}} (use |when:site or |day)")
        if ".normalize" in text:
            problems.append(f"{{{{ {text} }}}} (use |quantity:unit)")
        if IDENTIFIER.search(text.split("|")[0].strip()) and not FILTER.search(text):
            problems.append(f"{{{{ {text} }}}} printed raw (use its identifier filter)")
    return problems


def templates() -> list[Path]:
    found = list((ROOT / "templates").rglob("*.html"))
    for app in APPS:
        found += (ROOT / app).glob("templates/**/*.html")
    return sorted(found)


@pytest.mark.req("UI-ID-007")
def test_the_checker_finds_each_kind_of_ad_hoc_rendering():
    for bad in (
        '{{ lot.received_at|date:"d/m/Y" }}',
        '{{ x.when|utc|time:"H:i" }}',
        '{% now "Y-m-d" %}',
        "{{ patient.coi }}",
        "{{ deviation.patient_coi }}",
        "{{ lot.supplier_lot }}",
        "{{ use.batch_number }}",
        "{{ g.gtin }}",
        "{{ lot.quantity_on_hand.normalize }} mL",
        "{% coi patient %}",
        "{% block title %}Patient {{ patient.coi }}{% endblock %}",
    ):
        assert ad_hoc_renderings(bad), bad
    for good in (
        "{{ lot.received_at|when:lot.site }}",
        "{{ patient|coi }}",
        '<input type="hidden" name="coi" value="{{ coi }}">',
        '<a href="?batch={{ use.batch_number|urlencode }}">x</a>',
        "{% block title %}Patient {{ patient|coi_text }}{% endblock %}",
        "{{ lot.supplier_lot|lot_number }}",
        "{{ q|quantity:unit }}",
        '{% if a|date:"YmdHi" != b|date:"YmdHi" %}x{% endif %}',
    ):
        assert not ad_hoc_renderings(good), good


@pytest.mark.req("UI-ID-007")
def test_no_template_renders_a_date_identifier_or_quantity_ad_hoc():
    assert len(templates()) > 40
    problems = {
        str(path.relative_to(ROOT)): found
        for path in templates()
        if (found := ad_hoc_renderings(path.read_text()))
    }
    assert problems == {}
