"""Roles are Django groups. Each app declares, on its AppConfig, which of its permissions each
role gets (``role_permissions``); this module makes the groups match those declarations."""

from __future__ import annotations

from django.apps import apps as live_apps

ROLES = (
    "Operator", "Supervisor", "QA Reviewer", "Qualified Person", "Planner", "Trainer",
    "Administrator",
)


def declared_role_permissions() -> dict[str, set[str]]:
    declared: dict[str, set[str]] = {role: set() for role in ROLES}
    for config in live_apps.get_app_configs():
        for role, perms in getattr(config, "role_permissions", {}).items():
            declared.setdefault(role, set()).update(perms)
    return declared


def ensure_roles(apps=live_apps, *, strict: bool = True) -> None:
    """Create the role groups and give them exactly their declared permissions (idempotent)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    declared = declared_role_permissions()
    wanted = {perm for perms in declared.values() for perm in perms}
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in={w.split(".", 1)[1] for w in wanted}
        )
    }
    missing = wanted - set(found)
    if missing and strict:
        raise LookupError(f"Role permissions declared but not defined: {sorted(missing)}")
    for role, perms in declared.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([found[p] for p in perms if p in found])


def ensure_roles_after_migrate(sender, using="default", **kwargs) -> None:
    ensure_roles()
