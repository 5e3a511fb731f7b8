"""The floor: what a page costs when it does almost nothing. Every page's time is reported
as a multiple of it."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from mes.models import Site


@login_required
def floor(request):
    # One query on a unique (indexed) column, rendered inside base.html like any page.
    site = Site.objects.filter(code="LEI").only("pk", "code", "name").first()
    return render(request, "bench/floor.html", {"site": site})
