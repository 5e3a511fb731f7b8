from deviations.models.config import DeadlinePolicy, DeviationCounter, EscalationLevel, Tier
from deviations.models.deviation import (
    Classification,
    Deviation,
    DeviationQuerySet,
    PatientImpact,
    Source,
    Status,
)
from deviations.models.records import (
    CapaAction,
    ClassificationDecision,
    Closure,
    Comment,
    DeviationAttachment,
    Disposition,
    EscalationEvent,
    Investigation,
)

__all__ = [
    "CapaAction", "Classification", "ClassificationDecision", "Closure", "Comment",
    "DeadlinePolicy", "Deviation", "DeviationAttachment", "DeviationCounter",
    "DeviationQuerySet", "Disposition", "EscalationEvent", "EscalationLevel", "Investigation",
    "PatientImpact", "Source", "Status", "Tier",
]
