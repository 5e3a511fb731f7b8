"""Sections that apps above custody add to a patient's page and chain-of-custody report.

Custody cannot import the apps that build on it (ARCHITECTURE.md), yet the patient's chain
must show what they made of the patient's material (the batches, under the same chain of
identity). An upper app registers a callable in its ``AppConfig.ready()``; custody renders
what each returns. A section costs a fixed number of queries, whatever the patient's
history.

    register_patient_section(patient_batches)   # (patient, user) -> (template, context) | None

In the same way an upper app adds facts to the orders the API returns (the predicted release
date from scheduling), for a whole page of orders at once:

    register_order_facts(predicted_release)     # (orders) -> {order id: {name: value}}
"""

from __future__ import annotations

from collections.abc import Callable

from custody.models import Patient

Section = Callable[[Patient, object], "tuple[str, dict] | None"]

_SECTIONS: list[Section] = []


def register_patient_section(section: Section) -> None:
    """Add ``section`` (once, however often an app's ``ready()`` runs)."""
    if section not in _SECTIONS:
        _SECTIONS.append(section)


def patient_sections(patient: Patient, user) -> list[tuple[str, dict]]:
    """Each registered section's template and context for ``patient`` as ``user`` sees it,
    in the order the apps registered them; a section returning None is left out."""
    shown = []
    for section in _SECTIONS:
        rendered = section(patient, user)
        if rendered is not None:
            shown.append(rendered)
    return shown


OrderFacts = Callable[[list], "dict[int, dict]"]

_ORDER_FACTS: list[OrderFacts] = []


def register_order_facts(provider: OrderFacts) -> None:
    if provider not in _ORDER_FACTS:
        _ORDER_FACTS.append(provider)


def order_facts(orders) -> dict[int, dict]:
    """What every registered provider knows of each order, merged (keyed by order id)."""
    orders = list(orders)
    merged: dict[int, dict] = {order.pk: {} for order in orders}
    for provider in _ORDER_FACTS:
        for pk, facts in provider(orders).items():
            merged.setdefault(pk, {}).update(facts)
    return merged
