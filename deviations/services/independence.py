"""Independence: who may not decide on a deviation they raised (DEV-IND-001).

The decisions that judge a deviation (how bad it is, why it happened, what happens to the
material, whether it is closed or was never a deviation) need a second person: the one who
raised it would be marking their own work. Recording facts and doing work do not judge, so
the raiser may acknowledge receipt for QA, record immediate actions, comment, add a CAPA
action or sign one they performed; the closure that accepts the CAPA is independent.
"""

from __future__ import annotations

from deviations.models import Deviation
from mes.errors import DomainError
from mes.models import User


class IndependenceRequired(DomainError):
    code = "independence_required"
    status = 403


# action -> what the raiser may not do, in the plant's words; actions not listed are open
# to the raiser (acknowledge, immediate actions, comment, add or complete a CAPA action).
JUDGEMENTS = {
    "classify": "classify it",
    "investigate": "sign its investigation",
    "dispose": "sign the disposition of its material",
    "close": "close it",
    "cancel": "cancel it",
}


def independence_refusal(user: User, deviation: Deviation, action: str) -> str | None:
    """Why ``user`` may not take ``action`` on ``deviation``, or None when they may."""
    if action not in JUDGEMENTS or user.pk != deviation.detected_by_id:
        return None
    return (f"{user.full_name} raised deviation {deviation.number} and may not "
            f"{JUDGEMENTS[action]}: that is a judgement for another person.")


def require_independence(user: User, deviation: Deviation, action: str) -> None:
    """Refuse (403, ``independence_required``) a judgement by the person who raised it."""
    reason = independence_refusal(user, deviation, action)
    if reason:
        raise IndependenceRequired(reason)
