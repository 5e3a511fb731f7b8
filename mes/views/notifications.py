from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mes import selectors
from mes.services import notifications


@login_required
def inbox(request):
    page = Paginator(selectors.inbox(request.user), 30).get_page(request.GET.get("page"))
    return render(request, "mes/inbox.html", {"page": page})


@login_required
def unread_badge(request):
    """Polled by htmx every 30 s with the background header: it never extends the session."""
    return render(request, "mes/_unread_badge.html",
                  {"unread": notifications.unread_count(request.user)})


@login_required
@require_POST
def mark_read(request):
    ids = request.POST.getlist("id")
    notifications.mark_read(user=request.user,
                            notification_ids=[int(i) for i in ids if i.isdigit()] or None)
    return redirect("inbox")
