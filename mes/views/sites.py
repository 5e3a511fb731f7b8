from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render

from mes.errors import DomainError
from mes.models import Site
from mes.services import sites as site_services
from mes.ui import add_domain_error


class SiteForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                             help_text="Required for a change.")

    class Meta:
        model = Site
        fields = ["code", "name", "kind", "time_zone", "facility_identification_number",
                  "is_active"]


    def clean_code(self):
        return (self.cleaned_data.get("code") or "").strip().upper()


@login_required
@permission_required("mes.change_site", raise_exception=True)
def site_list(request):
    return render(request, "mes/site_list.html", {"sites": request.user.sites()})


@login_required
@permission_required("mes.add_site", raise_exception=True)
def site_create(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            site = site_services.create_site(actor=request.user, **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Site {site.code} created.")
            return redirect("site-list")
    return render(request, "mes/site_form.html", {"form": form, "site": None},
                  status=400 if form.errors else 200)


@login_required
@permission_required("mes.change_site", raise_exception=True)
def site_edit(request, pk: int):
    site = get_object_or_404(request.user.sites(), pk=pk)
    form = SiteForm(request.POST or None, instance=Site.objects.get(pk=site.pk))
    form.fields["code"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k not in {"reason", "code"}}
        try:
            site_services.update_site(actor=request.user, site=site,
                                      reason=form.cleaned_data["reason"], **data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Site {site.code} changed.")
            return redirect("site-list")
    return render(request, "mes/site_form.html", {"form": form, "site": site},
                  status=400 if form.errors else 200)
