"""What scheduling adds to custody's patient page and order API (registered with custody's
``sections`` in ``SchedulingConfig.ready``): the predicted release date against the product's
target, from the order's booking or, before one, the earliest possible start."""

from __future__ import annotations

from scheduling import selectors


def _as_facts(prediction: selectors.Prediction) -> dict:
    return {"predicted_release": {
        "date": prediction.predicted_release.isoformat(),
        "target": prediction.target_release.isoformat(),
        "on_target": prediction.on_target,
        "basis": prediction.basis,
        "manufacturing_start": prediction.start_date.isoformat(),
        "manufacturing_end": prediction.end_date.isoformat(),
    }}


def order_predictions(orders) -> dict[int, dict]:
    """A page of orders' predicted release dates, in a constant number of queries."""
    return {pk: _as_facts(p) for pk, p in selectors.predictions_for(orders).items()}


def patient_prediction(patient, user) -> tuple[str, dict] | None:
    order = getattr(patient, "order", None)
    if order is None or not user.has_perm("scheduling.view_booking"):
        return None
    prediction = selectors.prediction_for(order)
    if prediction is None:
        return None
    return "scheduling/_patient_prediction.html", {"prediction": prediction}
