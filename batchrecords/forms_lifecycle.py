"""Forms of a batch's lifecycle pages: cancelling, opening by hand, opening a later batch.
They carry what was typed; the services judge it and their refusals show at the field."""

from __future__ import annotations

from django import forms

from batchrecords.models import Batch

REASON = forms.Textarea(attrs={"rows": 3, "maxlength": 2000})


class CancelBatchForm(forms.Form):
    reason = forms.CharField(label="Why is the batch cancelled?", widget=REASON,
                             max_length=2000)


class OpenBatchForm(forms.Form):
    reason = forms.CharField(
        label="Why is the batch opened by hand?", widget=REASON, max_length=2000,
        help_text="For example: the master record was approved after the material arrived.")


class FollowUpBatchForm(forms.Form):
    origin = forms.ChoiceField(
        label="Kind of batch", widget=forms.RadioSelect,
        choices=[(Batch.Origin.REMANUFACTURE, Batch.Origin.REMANUFACTURE.label),
                 (Batch.Origin.SECOND_APHERESIS, Batch.Origin.SECOND_APHERESIS.label)])
    reason = forms.CharField(label="Why is another batch made?", widget=REASON,
                             max_length=2000)
