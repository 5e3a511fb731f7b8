from django.apps import AppConfig

_READ = ["training.view_certification", "training.view_trainingrecord",
         "training.view_qualification", "training.view_sopdocument"]
_OWN = ["training.sign_own_training"]


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and certification"
    default_auto_field = "django.db.models.BigAutoField"

    nav_group = "Training"
    header_actions = {
        "Trainer": [("Certifications", "training:matrix", "training.view_training_matrix"),
                    ("SOPs", "training:sops", "training.view_sopdocument")],
    }
    nav = [("Certifications", "training:matrix", "training.view_training_matrix"),
           ("SOPs", "training:sops", "training.view_sopdocument"),
           ("My training", "training:me", None)]
    home_panels = ["training.panels.my_certifications"]
    role_permissions = {
        "Operator": _OWN,
        "Supervisor": [*_READ, *_OWN, "training.view_training_matrix"],
        "QA Reviewer": [*_READ, *_OWN, "training.view_training_matrix",
                        "training.decide_certification", "training.verify_training",
                        "training.add_sopdocument", "training.add_qualification"],
        "Qualified Person": [*_READ, *_OWN, "training.view_training_matrix"],
        "Planner": [*_READ, *_OWN, "training.view_training_matrix"],
        "Trainer": [*_READ, *_OWN, "training.view_training_matrix",
                    "training.decide_certification", "training.verify_training",
                    "training.import_training_record", "training.add_sopdocument",
                    "training.add_qualification"],
        "Administrator": [],
    }

    def ready(self) -> None:
        from mes.services.signatures import register_signing_gate
        from training.services.gate import signing_gate

        register_signing_gate(signing_gate)
