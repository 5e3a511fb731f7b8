"""Forms of the QA workspace that write master records: a draft's header, its operations,
steps, materials and data fields, and the import of a document. They only shape the input;
the authoring services hold the rules."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from batchrecords.models import DataField, Operation, Step

CODE_PATTERN = r"^[A-Z0-9][A-Z0-9._-]*$"
CODE_HELP = "Capitals, digits, dots and dashes."
KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024


def _code(label: str, *, required: bool = True) -> forms.RegexField:
    return forms.RegexField(
        label=label, regex=CODE_PATTERN, max_length=32, required=required,
        error_messages={"invalid": CODE_HELP},
    )


def _minutes(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=0, max_value=1_000_000)


def _amount(label: str, *, required: bool = False) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, required=required, max_digits=14, decimal_places=4,
        min_value=Decimal("-1000000000"), max_value=Decimal("1000000000"),
    )


def _reason() -> forms.CharField:
    return forms.CharField(
        label="Reason for the change", max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


def split_list(text: str) -> list[str]:
    """Codes or options typed one a line or separated by commas, in order, each once."""
    items = [item.strip() for line in (text or "").splitlines() for item in line.split(",")]
    return list(dict.fromkeys(item for item in items if item))


class HeaderForm(forms.Form):
    title = forms.CharField(max_length=200)
    change_summary = forms.CharField(
        label="What changed in this version", required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reason = _reason()


class OperationForm(forms.Form):
    code = _code("Operation code")
    name = forms.CharField(max_length=200)


class _StepChoice(forms.ModelChoiceField):
    def label_from_instance(self, step: Step) -> str:
        return f"{step.operation.code} / {step.code} {step.title}"


class StepAttributesForm(forms.Form):
    """The attributes a step carries, as the authoring services name them."""

    title = forms.CharField(max_length=200)
    instructions = forms.CharField(
        required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown: **bold**, lists, tables. Links only to https addresses.",
    )
    critical = forms.BooleanField(required=False)
    second_person_verification = forms.BooleanField(required=False)
    patient_label_scan = forms.BooleanField(required=False)
    na_allowed = forms.BooleanField(label="N/A allowed (with a reason)", required=False)
    required_qualifications = forms.CharField(
        required=False, max_length=700, help_text="Training qualification codes, comma-separated."
    )
    equipment_type_code = _code("Equipment type", required=False)
    expected_minutes = _minutes("Expected minutes")
    window_min_minutes = _minutes("Earliest start after the previous step (min)")
    window_max_minutes = _minutes("Latest start after the previous step (min)")
    parallel_group = _code("Parallel group", required=False)

    def clean_required_qualifications(self) -> list[str]:
        return split_list(self.cleaned_data["required_qualifications"])

    def attributes(self) -> dict:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("operation", "code", "reason")
        }


class StepForm(StepAttributesForm):
    field_order = ["operation", "code"]
    operation = forms.ModelChoiceField(queryset=Operation.objects.none())
    code = _code("Step code")

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operation"].queryset = version.operations.order_by("position")


class StepChangeForm(StepAttributesForm):
    reason = _reason()

    @classmethod
    def initial_for(cls, step: Step) -> dict:
        initial = {name: getattr(step, name) for name in cls.base_fields if name != "reason"}
        initial["required_qualifications"] = ", ".join(step.required_qualifications)
        return initial


def _steps(version):
    return (
        Step.objects.filter(operation__version=version)
        .select_related("operation")
        .order_by("operation__position", "position")
    )


class MaterialForm(forms.Form):
    step = _StepChoice(queryset=Step.objects.none())
    material_code = _code("Material code")
    quantity = _amount("Quantity", required=True)
    unit = forms.CharField(max_length=16)
    tolerance = _amount("Tolerance (±)")

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = _steps(version)


class DataFieldForm(forms.Form):
    step = _StepChoice(queryset=Step.objects.none())
    key = forms.RegexField(
        regex=KEY_PATTERN, max_length=48,
        error_messages={"invalid": "Lower-case letters, digits and underscores."},
        help_text="Unique in the version; formulas name fields by key.",
    )
    label = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=DataField.Kind.choices)
    unit = forms.CharField(max_length=16, required=False)
    target = _amount("Target")
    alert_low = _amount("Alert low")
    alert_high = _amount("Alert high")
    action_low = _amount("Action low")
    action_high = _amount("Action high")
    options = forms.CharField(
        required=False, max_length=3000, help_text="For a choice: the options, comma-separated."
    )
    formula = forms.CharField(
        required=False, max_length=500, help_text="For a calculated value, e.g. 5 * vcc / titer."
    )
    required = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["step"].queryset = _steps(version)

    def clean_options(self) -> list[str]:
        return split_list(self.cleaned_data["options"])

    def attributes(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k not in ("step", "key", "label",
                                                                          "kind")}


class ImportForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, help_text="The site the draft belongs to.")
    document = forms.FileField(
        label="Master record document (JSON)",
        help_text="A file exported from this or another installation.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = user.sites().order_by("code")

    def clean_document(self):
        upload = self.cleaned_data["document"]
        if upload.size > MAX_DOCUMENT_BYTES:
            raise forms.ValidationError("The file is larger than 2 MB: no master record is.")
        return upload.read()


DRAFT_FORMS = {
    "header": HeaderForm,
    "operation": OperationForm,
    "step": StepForm,
    "material": MaterialForm,
    "field": DataFieldForm,
}


def draft_form(part: str, version, data=None):
    form_class = DRAFT_FORMS[part]
    kwargs = {"prefix": part}
    if form_class is HeaderForm:
        kwargs["initial"] = {"title": version.title, "change_summary": version.change_summary}
    elif form_class is not OperationForm:
        kwargs["version"] = version
    return form_class(data, **kwargs)


def draft_forms(version, bound=None) -> dict:
    """One form of each kind for the draft's page; ``bound`` (one that came back with errors)
    takes its kind's place."""
    forms_ = {part: draft_form(part, version) for part in DRAFT_FORMS}
    if bound is not None:
        forms_[bound.prefix] = bound
    return forms_
