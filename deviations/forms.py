from __future__ import annotations

from django import forms

from deviations.models import (
    Classification,
    Disposition,
    Investigation,
    PatientImpact,
    Status,
    Tier,
)
from deviations.models.config import DeadlineUnit
from mes.forms import ISODateField
from mes.models import User
from mes.roles import ROLES
from mes.widgets import FilterForm


def _text(rows: int = 3, **kwargs) -> forms.CharField:
    return forms.CharField(widget=forms.Textarea(attrs={"rows": rows}), max_length=4000,
                           **kwargs)


class RaiseForm(forms.Form):
    """The terminal asks only what happened; the rest comes from the context."""

    title = forms.CharField(label="What happened, in a few words", max_length=200)
    description = _text(4, label="What exactly did you see, and when?")
    immediate_actions = _text(2, label="What did you do about it straight away? (optional)",
                              required=False)


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label="Note (optional)", max_length=500, required=False)


class ClassifyForm(forms.Form):
    classification = forms.ChoiceField(choices=Classification.choices)
    patient_impact = forms.ChoiceField(choices=PatientImpact.choices)
    rationale = _text(2)


class DispositionForm(forms.Form):
    decision = forms.ChoiceField(choices=Disposition.Decision.choices,
                                 label="Disposition of the affected material")
    rationale = _text(2)


class InvestigationForm(forms.Form):
    root_cause_category = forms.ChoiceField(choices=Investigation.RootCause.choices,
                                            label="Root-cause category")
    narrative = _text(4)


class CapaForm(forms.Form):
    description = _text(2, label="Action")
    owner = forms.ModelChoiceField(queryset=User.objects.none())
    due_date = ISODateField()
    effectiveness_check = _text(2, label="Effectiveness check", required=False)

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        if site is not None:
            self.fields["owner"].queryset = User.objects.filter(
                is_active=True, siteuserobjectpermission__content_object=site,
                siteuserobjectpermission__permission__codename="view_site",
            ).distinct().order_by("full_name")


class CapaCompleteForm(forms.Form):
    note = _text(2, label="What was done")


class CloseForm(forms.Form):
    summary = _text(3, label="Closing summary")
    justification = _text(2, required=False,
                          label="Justification for open CAPA actions (if any)")


class ReasonForm(forms.Form):
    reason = _text(2)


class CommentForm(forms.Form):
    text = _text(2, label="Comment")


class ImmediateActionsForm(forms.Form):
    immediate_actions = _text(3, label="Immediate actions")


class BoardFilterForm(FilterForm):
    site = forms.ModelChoiceField(queryset=None, required=False, empty_label="All my sites")
    classification = forms.ChoiceField(choices=[("", "Any class"), *Classification.choices],
                                       required=False)
    patient_impact = forms.ChoiceField(
        choices=[("", "Any patient impact"), *PatientImpact.choices], required=False)
    status = forms.ChoiceField(choices=[("", "All active"), *Status.choices], required=False)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = user.sites().order_by("code")


class PolicyForm(forms.Form):
    tier = forms.ChoiceField(choices=Tier.choices)
    acknowledge_amount = forms.IntegerField(min_value=1, label="Acknowledge within")
    acknowledge_unit = forms.ChoiceField(choices=DeadlineUnit.choices, label="Unit")
    disposition_amount = forms.IntegerField(min_value=1, required=False,
                                            label="Dispose within (optional)")
    disposition_unit = forms.ChoiceField(choices=[("", "—"), *DeadlineUnit.choices],
                                         required=False, label="Unit")
    reason = forms.CharField(max_length=500)


class LevelForm(forms.Form):
    name = forms.CharField(max_length=100, label="Level name (e.g. QA lead)")
    person = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    role = forms.ChoiceField(choices=[("", "—"), *[(r, r) for r in ROLES]], required=False)
    respond_within_minutes = forms.IntegerField(min_value=1, initial=30,
                                                label="Minutes to respond before the next")
    reason = forms.CharField(max_length=500)

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        if site is not None:
            self.fields["person"].queryset = CapaForm(site=site).fields["owner"].queryset
