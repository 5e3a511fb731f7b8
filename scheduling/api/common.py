"""What every scheduling endpoint shares: the permission check and the lookups, in what
the caller may see, of the records a request names."""

from __future__ import annotations

from rest_framework import permissions

from custody.models import Order
from mes.errors import NotFound
from scheduling import selectors
from scheduling.models import Suite


class Allowed(permissions.BasePermission):
    """Each view names the permission reading needs and the ones its writes need."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            needed = view.read_permission
        else:
            needed = getattr(view, "write_permissions", {}).get(
                getattr(view, "action", None), view.write_permission
            )
        return bool(
            request.user and request.user.is_authenticated and request.user.has_perm(needed)
        )


# --- lookups in what the caller may see ---------------------------------------------------
def find_suite(user, pk) -> Suite:
    suite = selectors.suites_for(user).filter(pk=pk).first()
    if suite is None:
        raise NotFound("No such suite at your sites.", fields={"suite": ["Unknown suite."]})
    return suite


def find_order(user, pk) -> Order:
    order = (
        Order.objects.visible_to(user)
        .filter(pk=pk, site__in=user.sites())
        .select_related("patient__product", "site")
        .first()
    )
    if order is None:
        raise NotFound("No such order at your sites.", fields={"order": ["Unknown order."]})
    return order
