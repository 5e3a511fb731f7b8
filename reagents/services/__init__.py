"""Reagent lot control's writes; views, the API, tasks and other apps call only these.

Batch step execution (``batchrecords``) calls :func:`consume_lot` at the point of use.
"""

from reagents.services.common import ReagentRefused
from reagents.services.materials import create_material
from reagents.services.receipt import ReceiptPreview, preview_receipt, receive_lot
from reagents.services.status import (
    check_lot_decision,
    hold_lot,
    mark_expired_lots,
    reject_lot,
    release_lot,
    warn_qa_of_expiring_lots,
)
from reagents.services.stock import adjust_stock, consume_lot, reverse_consumption

__all__ = [
    "ReagentRefused", "ReceiptPreview", "adjust_stock", "check_lot_decision", "consume_lot",
    "create_material",
    "hold_lot", "mark_expired_lots", "preview_receipt", "receive_lot", "reject_lot",
    "release_lot", "reverse_consumption", "warn_qa_of_expiring_lots",
]
