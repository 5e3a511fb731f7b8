"""The operator terminal's forms: one step's entries, N/A, a correction, a comment and the
clearing of a stop.

The forms only carry what was typed and scanned; the execution services judge it (one set of
rules, the same for the API). Every field is optional here so that a refusal comes from the
service with its own message, and is shown back at its field (``show_refusal``).
"""

from __future__ import annotations

from django import forms
from django.utils import timezone

from batchrecords.models import DataField, Step, StepRun
from batchrecords.services.scanning import LotScan
from mes.errors import DomainError

YES_NO = [("yes", "Yes"), ("no", "No")]
NOTE = forms.Textarea(attrs={"rows": 2, "maxlength": 2000})


def value_name(key: str) -> str:
    return f"v_{key}"


def lot_name(code: str) -> str:
    return f"lot_{code}"


def quantity_name(code: str) -> str:
    return f"qty_{code}"


def reason_name(code: str) -> str:
    return f"sub_{code}"


def _text(label: str, **attrs) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=2000,
                           widget=forms.TextInput(attrs={"autocomplete": "off", **attrs}))


def value_field(field: DataField, *, batch) -> forms.Field | None:
    """The input for one data field (None for a calculated one: computed on signing)."""
    kind = DataField.Kind
    if field.kind == kind.CALCULATED:
        return None
    if field.kind == kind.NUMBER:
        return _text(field.label, inputmode="decimal", spellcheck="false")
    if field.kind in (kind.CHOICE, kind.YES_NO):
        choices = YES_NO if field.kind == kind.YES_NO else [(str(o), str(o))
                                                            for o in field.options]
        return forms.CharField(label=field.label, required=False,
                               widget=forms.RadioSelect(choices=choices))
    if field.kind == kind.DATETIME:
        # Prefilled with now in the site's zone: the operator records when it happened.
        now = timezone.localtime(timezone.now(), batch.site.zone)
        text = _text(field.label, spellcheck="false")
        text.initial = f"{now:%Y-%m-%d %H:%M}"
        return text
    return _text(field.label)


class StepForm(forms.Form):
    """Everything a step asks for: values, the scans (filled in by the scan field), the
    quantity of each material and a comment; ``revision`` is the step as the screen showed."""

    revision = forms.IntegerField(label="Step version", widget=forms.HiddenInput)
    label_scan = forms.CharField(label="Patient label", required=False,
                                 widget=forms.HiddenInput)
    equipment_scan = forms.CharField(label="Equipment", required=False,
                                     widget=forms.HiddenInput)
    comment = forms.CharField(label="Comment (optional)", required=False, max_length=2000,
                              widget=NOTE)

    def __init__(self, *args, run: StepRun, fields: list[DataField], materials, **kwargs):
        super().__init__(*args, **kwargs)
        self.run, self.data_fields, self.materials = run, fields, list(materials)
        self.fields["revision"].initial = run.revision
        for field in fields:
            form_field = value_field(field, batch=run.batch)
            if form_field is not None:
                self.fields[value_name(field.key)] = form_field
        for material in self.materials:
            code = material.material_code
            self.fields[lot_name(code)] = forms.CharField(
                label=f"Lot of {code}", required=False, widget=forms.HiddenInput)
            self.fields[quantity_name(code)] = _text(
                f"Quantity of {code} ({material.unit})", inputmode="decimal")
            self.fields[quantity_name(code)].initial = f"{material.quantity.normalize():f}"
            self.fields[reason_name(code)] = _text(f"Reason for another quantity of {code}")

    def entered(self) -> dict:
        """What the service is given, from the submitted data as typed."""
        data = self.data
        return {
            "revision": data.get("revision"),
            "values": {f.key: data.get(value_name(f.key), "") for f in self.data_fields
                       if f.kind != DataField.Kind.CALCULATED},
            "label_scan": data.get("label_scan", ""),
            "equipment_scan": data.get("equipment_scan", ""),
            "lots": [LotScan(material_code=m.material_code,
                             scan=data.get(lot_name(m.material_code), ""),
                             quantity=data.get(quantity_name(m.material_code)) or None,
                             substitution_reason=data.get(reason_name(m.material_code), ""))
                     for m in self.materials
                     if data.get(lot_name(m.material_code), "").strip()],
            "comment": data.get("comment", ""),
        }

    def value_rows(self) -> list[tuple[DataField, forms.BoundField | None]]:
        """Each data field with its input (None for a calculated one), for the template."""
        return [(f, self[value_name(f.key)] if value_name(f.key) in self.fields else None)
                for f in self.data_fields]

    def material_rows(self) -> list[tuple]:
        """Each material with its lot slot, quantity and substitution reason."""
        return [(m, self[lot_name(m.material_code)], self[quantity_name(m.material_code)],
                 self[reason_name(m.material_code)]) for m in self.materials]

    def field_for(self, key: str) -> str | None:
        """The form field a service's error key names (``vcc``, ``lots.LV-CD19``, …)."""
        if key.startswith("lots."):
            return lot_name(key[5:])
        for name in (key, value_name(key)):
            if name in self.fields:
                return name
        return None


class ScanForm(forms.Form):
    scan = forms.CharField(label="Scan", max_length=200, strip=True, widget=forms.TextInput(
        attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off",
               "class": "scan-input"}))


class NotApplicableForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label="Reason the step is not applicable", required=False,
                             max_length=2000, widget=NOTE)


class VerifyForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)


class CorrectionForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)
    field_key = forms.CharField(label="Value to correct", required=False)
    value = forms.CharField(label="Corrected value", required=False, max_length=500,
                            widget=forms.TextInput(attrs={"autocomplete": "off"}))
    reason = forms.CharField(label="Reason for the correction", required=False,
                             max_length=2000, widget=NOTE)

    def __init__(self, *args, step: Step, fields: list[DataField], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_key"].widget = forms.RadioSelect(choices=[
            (f.key, f"{f.label}{f' ({f.unit})' if f.unit else ''}") for f in fields
            if f.kind != DataField.Kind.CALCULATED])


class CommentForm(forms.Form):
    text = forms.CharField(label="Comment on this step", required=False, max_length=2000,
                           widget=NOTE)


class ClearStopForm(forms.Form):
    reason = forms.CharField(label="Reason the batch may go on", required=False, max_length=2000,
                             widget=NOTE)


def show_refusal(form: forms.Form, error: DomainError, *, field_for=None) -> None:
    """The refusal's message at the top (the error summary) and each field's complaint at its
    field; a complaint about a field the form does not show stays in the summary."""
    form.add_error(None, error.message)
    for key, messages in error.fields.items():
        name = field_for(key) if field_for else (key if key in form.fields else None)
        if name is not None and name in form.fields and name not in form.errors:
            form.add_error(name, " ".join(messages))
