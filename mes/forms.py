from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import Group

from mes.models import AccessChange, Site
from mes.roles import ROLES


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
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
