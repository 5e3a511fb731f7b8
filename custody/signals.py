"""Signals for apps above custody (ARCHITECTURE.md: a lower app exposes a signal, the upper
app listens). Sent inside the transaction that made the change, so a listener's writes commit
or roll back with it."""

from django.dispatch import Signal

# Sent with ``order`` (the cancelled Order, locked), ``actor`` and ``reason`` when an order
# is cancelled; scheduling frees the order's booking.
order_cancelled = Signal()

# Sent with ``order`` (locked), ``actor`` and ``reason`` when an order moves into
# manufacturing; scheduling releases the reagents its booking had reserved (they are issued
# at the point of use from now on).
order_entered_manufacturing = Signal()

# Sent with ``patient`` (locked), ``event`` and ``actor`` when a patient's apheresis material
# is received at the manufacturing site; batchrecords opens the patient's batch record.
material_received = Signal()
