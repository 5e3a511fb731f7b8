"""Dates are typed as ISO 8601 (YYYY-MM-DD) in every form: a text input with a pattern and a
hint, never the browser's locale date picker (mm/dd/yyyy for some, dd/mm/yyyy for others)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from django import forms
from django.urls import reverse

from mes.apps import OUR_APPS
from mes.forms import ISODateField, ISODateInput
from tests.mes.factories import SiteFactory, person

ROOT = Path(__file__).resolve().parents[2]


def _our_forms() -> list[type[forms.BaseForm]]:
    """Every form class our apps define (forms modules, views that declare their own)."""
    for label in OUR_APPS:
        package = importlib.import_module(label)
        for module in pkgutil.walk_packages(package.__path__, f"{label}."):
            if ".migrations" in module.name or module.name.endswith(("tests", "demo")):
                continue
            importlib.import_module(module.name)
    found, todo = [], [forms.BaseForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in OUR_APPS:
            found.append(cls)
    return found


def _date_fields():
    for form in _our_forms():
        for name, field in form.base_fields.items():
            if isinstance(field, (forms.DateField, forms.DateTimeField, forms.TimeField)):
                yield form, name, field


@pytest.mark.req("UI-DATE-001:every-form")
def test_every_date_field_in_every_form_is_an_iso_date_field():
    fields = list(_date_fields())
    names = {f"{form.__name__}.{name}" for form, name, _ in fields}
    # The ones known today, so that the walk itself cannot silently find nothing.
    assert {
        "OrderForm.date_of_birth",
        "CapaForm.due_date",
        "ReceiveForm.expiry_date",
        "RecordTrainingForm.trained_on",
        "AuditFilterForm.since",
    } <= names
    for form, name, field in fields:
        where = f"{form.__module__}.{form.__name__}.{name}"
        assert isinstance(field, ISODateField), f"{where} is not an ISODateField"
        assert isinstance(field.widget, ISODateInput), f"{where} has another widget"
        assert field.input_formats == ["%Y-%m-%d"], where


@pytest.mark.req("UI-DATE-001:templates")
def test_no_template_asks_for_a_date_with_the_browsers_picker():
    offenders = []
    for template in ROOT.glob("**/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        if re.search(r"""type=["']?(date|datetime-local|month|week)\b""", text):
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.req("UI-DATE-001:widget")
def test_the_widget_is_a_text_input_with_pattern_and_hint():
    class Form(forms.Form):
        due = ISODateField()

    html = str(Form(initial={"due": "2026-11-30"})["due"])
    assert 'type="text"' in html and 'type="date"' not in html
    assert r'pattern="\d{4}-\d{2}-\d{2}"' in html and 'inputmode="numeric"' in html
    assert 'value="2026-11-30"' in html
    assert 'aria-describedby="id_due-hint"' in html
    assert re.search(r'<span class="hint" id="id_due-hint">YYYY-MM-DD[^<]*</span>', html)


@pytest.mark.req("UI-DATE-001:iso-only")
def test_only_iso_dates_are_accepted():
    class Form(forms.Form):
        due = ISODateField()

    form = Form({"due": "03/04/2026"})
    assert not form.is_valid()
    assert form.errors["due"] == ["Enter the date as YYYY-MM-DD, for example 2026-11-30."]
    form = Form({"due": "2026-03-04"})
    assert form.is_valid() and form.cleaned_data["due"].isoformat() == "2026-03-04"


@pytest.mark.req("UI-DATE-001:every-form")
def test_a_page_with_date_fields_renders_them_as_iso_text(client, roles):
    planner = person("Planner", sites=[SiteFactory(code="PLANT1")], username="planner1")
    client.force_login(planner)
    page = client.get(reverse("custody:order-create")).content.decode()
    assert 'type="date"' not in page
    for name in ("date_of_birth", "planned_collection_date"):
        assert re.search(rf'<input type="text" name="{name}"[^>]*pattern=', page), name
        assert f'id="id_{name}-hint"' in page
