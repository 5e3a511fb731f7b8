from deviations.views.actions import (
    acknowledge,
    add_capa,
    attachment,
    cancel,
    classify,
    close,
    comment,
    complete_capa,
    dispose,
    immediate_actions,
    investigate,
)
from deviations.views.board import badge, board, detail, mine
from deviations.views.config import settings_index, settings_page
from deviations.views.raising import raise_deviation

__all__ = [
    "acknowledge", "add_capa", "attachment", "badge", "board", "cancel", "classify", "close",
    "comment", "complete_capa", "detail", "dispose", "immediate_actions", "investigate",
    "mine", "raise_deviation", "settings_index", "settings_page",
]
