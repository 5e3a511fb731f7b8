from django.apps import AppConfig

# Our apps, lowest layer first. Tests walk these for history and import direction.
OUR_APPS = ("mes", "training", "reagents", "deviations", "custody", "scheduling", "batchrecords")


class MesConfig(AppConfig):
    name = "mes"
    verbose_name = "MES kernel"
    default_auto_field = "django.db.models.BigAutoField"

    # The kernel's pages, shown last in the top bar (see mes.ui.app_navigation).
    nav_group = "Administration"
    nav = [
        ("People & access", "user-list", "mes.view_user"),
        ("Sites", "site-list", "mes.change_site"),
        ("Security events", "security-events", "mes.view_securityevent"),
    ]
    header_actions = {"Administrator": [("People & access", "user-list", "mes.view_user")]}

    # Permissions each role gets from this app; every app declares its own (see mes.roles).
    role_permissions = {
        "Operator": [],
        "Supervisor": ["mes.view_audit_trail"],
        "QA Reviewer": ["mes.view_audit_trail", "mes.view_securityevent",
                        "mes.run_integrity_check"],
        "Qualified Person": ["mes.view_audit_trail", "mes.view_securityevent",
                             "mes.run_integrity_check"],
        "Planner": [],
        "Trainer": [],
        "Administrator": [
            "mes.manage_access", "mes.approve_accesschange", "mes.view_audit_trail",
            "mes.view_user", "mes.add_user", "mes.change_user",
            "mes.add_site", "mes.change_site", "mes.view_securityevent",
        ],
    }

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from mes import celery, security_hooks  # noqa: F401  (the Celery app; auth/axes hooks)

        post_migrate.connect(_after_all_migrations, dispatch_uid="mes-after-migrate")


def _after_all_migrations(sender, using="default", **kwargs) -> None:
    """Once per migrate, after the last app (so every app's tables and permissions exist):
    guard the append-only tables and bring the roles in line with their declarations."""
    from django.apps import apps

    from mes import db, roles

    # Django sends post_migrate only to apps that have a models module.
    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    db.install_triggers_after_migrate(sender, using=using)
    roles.ensure_roles()
