from django import forms

from mes.forms import ISODateField
from reagents.models import LotStatus, Material, StorageCondition
from reagents.selectors import MAX_EXPIRING_DAYS


def _site_field(user) -> forms.ModelChoiceField:
    """The receiving site: asked only of someone who works at several sites."""
    sites = user.sites().order_by("code")
    field = forms.ModelChoiceField(queryset=sites, empty_label=None)
    if len(sites) == 1:
        field.widget = forms.HiddenInput()
        field.initial = sites[0].pk
    return field


class ScanForm(forms.Form):
    """Step one of a receipt: the label scan (and the site, if the person has several)."""

    scan = forms.CharField(
        label="Label scan", max_length=300, strip=False,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off",
                                      "spellcheck": "false",
                                      "placeholder": "Scan the GS1 DataMatrix or GS1-128"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"] = _site_field(user)
        self.order_fields(["site", "scan"])


class ReceiveForm(forms.Form):
    """Step two, after the decoded preview: the reading (if the scan was ambiguous), then
    what the label cannot say."""

    scan = forms.CharField(max_length=300, strip=False, widget=forms.HiddenInput())
    reading = forms.ChoiceField(label="How does the printed label read?", required=False,
                                widget=forms.RadioSelect)
    quantity = forms.DecimalField(max_digits=12, decimal_places=3, min_value=0.001,
                                  widget=forms.NumberInput(attrs={"autofocus": True,
                                                                  "step": "any"}))
    storage_location = forms.CharField(max_length=100)
    expiry_date = ISODateField(required=False, label="Expiry date (not on the label)")

    def __init__(self, *args, user=None, preview=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"] = _site_field(user)
        self.fields["site"].widget = forms.HiddenInput()
        self.order_fields(["site", "scan", "reading"])
        if preview is None or not preview.needs_confirmation:
            del self.fields["reading"]
        else:  # left to the service to refuse, with its code, when none is chosen
            self.fields["reading"].choices = [(o.label.hri, _reading_label(n, o.label))
                                              for n, o in enumerate(preview.options, 1)
                                              if o.refusal is None]
        if preview is not None and preview.label.expiry_date is not None:
            del self.fields["expiry_date"]


def _reading_label(number: int, label) -> str:
    expiry = f"{label.expiry_date:%Y-%m-%d}" if label.expiry_date else "none on the label"
    return (f"Reading {number}: lot {label.lot}, serial {label.serial_number or 'none'}, "
            f"expiry {expiry}")


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
