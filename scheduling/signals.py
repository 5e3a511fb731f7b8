"""Signals for apps above scheduling (ARCHITECTURE.md: a lower app exposes a signal, the upper
app listens). Sent inside the transaction that made the change."""

from django.dispatch import Signal

# Sent with ``booking`` (locked), ``confirmation`` (the signed BookingConfirmation) and
# ``actor`` when a Supervisor confirms a booking despite its feasibility problems; the
# patient's batch record keeps each problem as an exception for its review.
booking_confirmed_with_problems = Signal()
