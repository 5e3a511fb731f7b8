"""Deviation pages: thin views that load (scoped), call a service and render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, render

from deviations.models import Deviation


@login_required
@permission_required("deviations.view_deviation", raise_exception=True)
def detail(request, pk: int):
    deviation = get_object_or_404(
        Deviation.objects.visible_to(request.user).select_related(
            "site", "detected_by", "acknowledged_by", "subject_type"), pk=pk)
    return render(request, "deviations/detail.html", {"deviation": deviation})
