from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group

from mes.models import AccessChange, Site
from mes.roles import ROLES

ISO_DATE_FORMAT = "%Y-%m-%d"
ISO_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"


class ISODateInput(forms.DateInput):
    """A date typed as ISO 8601 (YYYY-MM-DD) in a text box with its hint, never the browser's
    locale picker (which shows mm/dd/yyyy to some and dd/mm/yyyy to others)."""

    template_name = "mes/widgets/iso_date.html"
    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__(attrs={"pattern": ISO_DATE_PATTERN, "inputmode": "numeric",
                                "autocomplete": "off", "maxlength": "10", "size": "10",
                                "class": "iso-date", **(attrs or {})},
                         format=ISO_DATE_FORMAT)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        if widget_attrs.get("id"):
            hint = f"{widget_attrs['id']}-hint"
            described = widget_attrs.get("aria-describedby", "")
            widget_attrs["aria-describedby"] = f"{described} {hint}".strip()
            context["widget"]["hint_id"] = hint
        return context


class ISODateField(forms.DateField):
    """Every date field in a form: ISO 8601 only, so 03/04/2026 is never read as a guess."""

    widget = ISODateInput
    input_formats = [ISO_DATE_FORMAT]
    default_error_messages = {
        "invalid": "Enter the date as YYYY-MM-DD, for example 2026-11-30.",
    }


class LoginForm(AuthenticationForm):
    username = forms.CharField(widget=forms.TextInput(attrs={"autofocus": True,
                                                             "autocomplete": "username"}))


class AccessChangeForm(forms.Form):
    action = forms.ChoiceField(choices=AccessChange.Action.choices)
    role = forms.ModelChoiceField(queryset=Group.objects.filter(name__in=ROLES).order_by("name"),
                                  required=False)
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if actor is not None:
            self.fields["site"].queryset = actor.sites()

    def clean(self):
        data = super().clean()
        if bool(data.get("role")) == bool(data.get("site")):
            raise forms.ValidationError("Choose either a role or a site, not both.")
        return data


class SignForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))


class CreateUserForm(forms.Form):
    username = forms.CharField(max_length=64)
    full_name = forms.CharField(max_length=200, label="Legal full name")
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, label="Initial password")


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class AuditFilterForm(forms.Form):
    field = forms.CharField(required=False)
    who = forms.CharField(required=False)
    since = ISODateField(required=False)
    until = ISODateField(required=False)
