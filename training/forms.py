from __future__ import annotations

from django import forms
from django.conf import settings

from mes.forms import ISODateField
from mes.models import User
from mes.widgets import FilterForm
from training.models import CleanroomGrade, Qualification, SOPRevision, TrainingRecord
from training.selectors import CELL_STATES

_REASON = forms.Textarea(attrs={"rows": 2})


class MatrixFilterForm(FilterForm):
    site = forms.ModelChoiceField(queryset=None, required=False, empty_label=None)
    qualification = forms.ChoiceField(required=False)
    grade = forms.ChoiceField(required=False, label="Suite grade",
                              choices=[("", "Any grade"), *CleanroomGrade.choices])
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any status"), *CELL_STATES],
                               help_text="People with at least one cell in this state.")
    q = forms.CharField(required=False, max_length=100, label="Name or username",
                        widget=forms.TextInput(attrs={"type": "search"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = user.sites().order_by("code")
        self.fields["qualification"].choices = [("", "All qualifications")] + [
            (q.code, f"{q.code} · {q.name}")
            for q in Qualification.objects.filter(is_active=True).order_by("code")]


class GrantForm(forms.Form):
    qualification = forms.ModelChoiceField(
        queryset=Qualification.objects.filter(is_active=True).order_by("code"))
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    valid_from = ISODateField(required=False, label="Valid from (default today)")
    reason = forms.CharField(widget=_REASON, max_length=2000)

    def __init__(self, *args, actor: User, person: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = actor.sites().filter(
            pk__in=person.sites().values("pk")).order_by("code")


class DecisionForm(forms.Form):
    reason = forms.CharField(widget=_REASON, max_length=2000)


class RecordTrainingForm(forms.Form):
    sop_revision = forms.ModelChoiceField(
        label="SOP revision",
        queryset=SOPRevision.objects.filter(status=SOPRevision.Status.EFFECTIVE)
        .select_related("document").order_by("document__number"))
    trainer = forms.ModelChoiceField(queryset=None)
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    trained_on = ISODateField()
    assessment = forms.ChoiceField(choices=TrainingRecord.Assessment.choices)
    comments = forms.CharField(widget=_REASON, required=False, max_length=2000)

    def __init__(self, *args, trainee: User, **kwargs):
        super().__init__(*args, **kwargs)
        sites = trainee.sites()
        self.fields["site"].queryset = sites.order_by("code")
        self.fields["trainer"].queryset = (
            User.objects.filter(is_active=True, groups__name__in=["Trainer", "QA Reviewer"],
                                siteuserobjectpermission__content_object__in=sites)
            .exclude(pk=trainee.pk).exclude(username=settings.SYSTEM_USERNAME)
            .distinct().order_by("full_name"))
        self.fields["sop_revision"].label_from_instance = (
            lambda r: f"{r.document.number} rev. {r.revision} · {r.document.title}")


class MakeEffectiveForm(forms.Form):
    effective_date = ISODateField()
    reason = forms.CharField(widget=_REASON, max_length=2000,
                             help_text="E.g. the change control that approved it.")


class NewRevisionForm(forms.Form):
    revision = forms.CharField(max_length=16)
    summary = forms.CharField(widget=_REASON, max_length=2000, required=False)
