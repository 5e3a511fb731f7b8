from django import forms

from reagents.models import LotStatus, Material, StorageCondition
from reagents.selectors import MAX_EXPIRING_DAYS


class ReceiveForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    scan = forms.CharField(
        label="Label scan", max_length=300, strip=False,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off",
                                      "spellcheck": "false",
                                      "placeholder": "Scan the GS1 DataMatrix or GS1-128"}))
    quantity = forms.DecimalField(max_digits=12, decimal_places=3, min_value=0.001)
    storage_location = forms.CharField(max_length=100)
    expiry_date = forms.DateField(required=False, label="Expiry date (only if not on the label)",
                                  widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = user.sites().order_by("code")


class LotFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *LotStatus.choices], required=False)
    material = forms.ChoiceField(required=False)
    expiring = forms.IntegerField(required=False, min_value=0, max_value=MAX_EXPIRING_DAYS,
                                  label="Expiring within (days)")
    q = forms.CharField(required=False, label="Lot or GTIN")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["material"].choices = [("", "Any material")] + [
            (m.code, str(m)) for m in Material.objects.order_by("code")]


class ReleaseForm(forms.Form):
    coa_reference = forms.CharField(label="Certificate of analysis reference", max_length=100)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000,
                             required=False)


class DecisionReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AdjustForm(forms.Form):
    quantity = forms.DecimalField(max_digits=12, decimal_places=3,
                                  help_text="Negative to take stock off, positive to add.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ReverseForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class BatchGenealogyForm(forms.Form):
    batch_number = forms.CharField(required=False, max_length=64)
    patient_coi = forms.CharField(required=False, max_length=32, label="Patient COI")


class MaterialForm(forms.Form):
    code = forms.CharField(max_length=32)
    name = forms.CharField(max_length=200)
    unit = forms.CharField(max_length=16, label="Unit of measure")
    storage_condition = forms.ChoiceField(choices=StorageCondition.choices)
    gtins = forms.CharField(label="GTINs (one per line)",
                            widget=forms.Textarea(attrs={"rows": 2}))
    is_critical = forms.BooleanField(required=False, initial=True, label="Critical reagent")
    requires_qa_release = forms.BooleanField(required=False, initial=True,
                                             label="QA release required")

    def clean_gtins(self):
        return [line.strip() for line in self.cleaned_data["gtins"].replace(",", "\n").split()
                if line.strip()]
