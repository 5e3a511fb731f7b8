from django.apps import AppConfig

_VIEW = ["reagents.view_material", "reagents.view_reagentlot", "reagents.view_stockentry"]


class ReagentsConfig(AppConfig):
    name = "reagents"
    verbose_name = "Reagent lot control"
    default_auto_field = "django.db.models.BigAutoField"

    # Materials, suites and master records: the production resources, one group (UI.md: at
    # most seven top-level items a role).
    nav_group = "Production"
    header_actions = {
        "QA Reviewer": [("Lots to release", "reagents:lot-list?status=quarantine",
                         "reagents.release_lot")],
    }
    nav = [
        ("Reagent lots", "reagents:lot-list", "reagents.view_reagentlot"),
        ("Receive", "reagents:receive", "reagents.receive_lot"),
        ("Inventory", "reagents:inventory", "reagents.view_reagentlot"),
    ]
    home_panels = ["reagents.panels.qa_lots_panel"]
    role_permissions = {
        "Operator": [*_VIEW, "reagents.receive_lot", "reagents.consume_lot"],
        "Supervisor": [*_VIEW, "reagents.receive_lot", "reagents.consume_lot",
                       "reagents.reverse_consumption", "reagents.adjust_stock"],
        "QA Reviewer": [*_VIEW, "reagents.release_lot", "reagents.reverse_consumption",
                        "reagents.adjust_stock", "reagents.add_material"],
        "Qualified Person": list(_VIEW),
        "Planner": ["reagents.view_material", "reagents.view_reagentlot"],
    }

    def ready(self) -> None:
        from mes.services.integrity import register_integrity_check
        from reagents.selectors import stock_ledger_mismatches

        register_integrity_check(stock_ledger_mismatches)
