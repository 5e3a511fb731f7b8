"""Demo deviations: a ladder at Leiden and open deviations at every stage, one of them
already escalated twice. Everything goes through the services, attributed; idempotent."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from deviations.models import Deviation, EscalationLevel
from deviations.services import config, escalation, raise_deviation, workflow
from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.models import Site, User

MARKER = "Cryobag leak found at thaw check"  # the escalated one: present means loaded

SVG_CURVE = (b'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="120" '
             b'viewBox="0 0 300 120"><polyline fill="none" stroke="#b3261e" stroke-width="2" '
             b'points="0,100 60,98 120,95 150,40 180,35 210,90 300,100"/>'
             b'<line x1="0" y1="60" x2="300" y2="60" stroke="#5d6d7e" stroke-dasharray="4"/>'
             b'</svg>')


def load() -> dict:
    lei = Site.objects.filter(code="LEI").first()
    bos = Site.objects.filter(code="BOS").first()
    if lei is None or Deviation.objects.filter(site=lei, title=MARKER).exists():
        return {}
    people = {u.username: u for u in User.objects.filter(
        username__in=["operator", "operator2", "supervisor", "qa", "qp", "bos-operator"])}
    qa, qp, supervisor = people["qa"], people["qp"], people["supervisor"]
    operator, operator2 = people["operator"], people["operator2"]
    now = timezone.now()

    with audit.acting_as(qa):
        if not EscalationLevel.objects.filter(site=lei, is_active=True).exists():
            for name, role, wait in (("QA on duty", "QA Reviewer", 15),
                                     ("Production supervisor on shift", "Supervisor", 15),
                                     ("Qualified Person", "Qualified Person", 60)):
                config.add_escalation_level(actor=qa, site=lei, name=name, role=role,
                                            respond_within_minutes=wait,
                                            reason="Demo: Leiden escalation ladder")
        config.set_deadline_policy(actor=qa, site=lei, tier="major", acknowledge_amount=4,
                                   acknowledge_unit="hours", disposition_amount=1,
                                   disposition_unit="working_days",
                                   reason="Demo: major deviations disposed within a day")

    def sign(action, actor, **kwargs):
        with audit.acting_as(actor):
            return action(actor=actor, password=DEMO_PASSWORD, **kwargs)

    # Open, critical, patient impact: nobody acknowledged it; escalated twice already.
    with audit.acting_as(operator):
        escalated = raise_deviation(
            reporter=operator, site=lei, title=MARKER, classification="critical",
            patient_impact="yes", batch_number="LEI-B-0107", patient_coi="G123426000107",
            description="Final product bag 2 of 3 shows a pinhole leak at the port during "
                        "the pre-shipment thaw check. Patient dose at risk.",
            immediate_actions="Bag isolated in a secondary bag, placed in LN2 quarantine rack Q2.",
            detected_at=now - timedelta(minutes=50))
    with audit.acting_as(audit.system_user()):
        escalation.escalate_overdue(now=now)

    # Open, minor, just raised from the terminal.
    with audit.acting_as(operator2):
        raise_deviation(reporter=operator2, site=lei, title="Gowning log entry late",
                        description="Gowning for suite B entered 20 minutes after entry.",
                        detected_at=now - timedelta(minutes=5))

    # Acknowledged: automatic, out-of-limits parameter from batch execution.
    with audit.acting_as(operator):
        ool = raise_deviation(
            reporter=operator, site=lei, title="Centrifuge speed out of limits",
            description="Step 'Wash 2' recorded 1850 x g; limits 400-1200 x g.",
            classification="major", patient_impact="unknown", batch_number="LEI-B-0108",
            patient_coi="G123426000108", source="automatic",
            rule="batchrecords.parameter_out_of_limits",
            data={"step": "Wash 2", "parameter": "rcf_g", "value": 1850, "low": 400,
                  "high": 1200}, detected_at=now - timedelta(hours=2))
    sign(workflow.acknowledge_deviation, qa, deviation=ool, note="Reviewing step record")

    # Under investigation: classified, material on hold, root cause being written up.
    with audit.acting_as(operator2):
        shipper = raise_deviation(
            reporter=operator2, site=lei, title="Dry shipper temperature excursion",
            description="Shipper SH-12 logged -138 °C for 6 minutes during courier handover.",
            classification="major", patient_impact="unknown", batch_number="LEI-B-0101",
            patient_coi="G123426000101", source="automatic", rule="custody.cold_chain.max_temp",
            data={"max_c": -138.0, "limit_c": -150.0, "minutes": 6},
            attachments=[("sh-12-temperature.svg", "image/svg+xml", SVG_CURVE)],
            detected_at=now - timedelta(hours=26))
    sign(workflow.acknowledge_deviation, qa, deviation=shipper)
    sign(workflow.classify_deviation, qa, deviation=shipper, classification="critical",
         patient_impact="yes", rationale="Final product for infusion in the shipper")
    sign(workflow.dispose_material, qp, deviation=shipper, decision="hold",
         rationale="Hold until stability data for a 6-minute excursion are assessed")
    sign(workflow.record_investigation, supervisor, deviation=shipper,
         root_cause_category="supplier",
         narrative="Courier opened the shipper lid at handover for a label check.")

    # Pending CAPA.
    with audit.acting_as(operator):
        door = raise_deviation(
            reporter=operator, site=lei, title="Suite B pressure cascade alarm",
            description="Differential pressure B-corridor fell to 6 Pa for 4 minutes.",
            classification="major", patient_impact="no", detected_at=now - timedelta(days=3))
    sign(workflow.acknowledge_deviation, qa, deviation=door)
    sign(workflow.dispose_material, qp, deviation=door, decision="continue",
         rationale="No product exposed: no open processing during the alarm")
    sign(workflow.record_investigation, supervisor, deviation=door,
         root_cause_category="equipment", narrative="Door closer B2 worn; door stayed ajar.")
    with audit.acting_as(qa):
        workflow.add_capa(actor=qa, deviation=door, owner=supervisor,
                          description="Replace door closers B1-B4 and add to PM plan",
                          due_date=timezone.localdate() + timedelta(days=10),
                          effectiveness_check="No cascade alarms on suite B for 3 months")

    # Closed.
    with audit.acting_as(operator2):
        label = raise_deviation(
            reporter=operator2, site=lei, title="Label printer misprint",
            description="Intermediate bag label printed without expiry.",
            detected_at=now - timedelta(days=8))
    sign(workflow.acknowledge_deviation, qa, deviation=label)
    sign(workflow.record_investigation, qa, deviation=label,
         root_cause_category="equipment", narrative="Printer template reverted after update.")
    sign(workflow.close_deviation, qa, deviation=label,
         summary="Template restored and locked; bag relabelled under second-person check.")

    # Cancelled: raised twice.
    with audit.acting_as(operator):
        duplicate = raise_deviation(reporter=operator, site=lei,
                                    title="Gowning log entry late (duplicate)",
                                    description="Same event as the other gowning entry.")
    with audit.acting_as(qa):
        workflow.cancel_deviation(actor=qa, deviation=duplicate,
                                  reason="Duplicate of the gowning log deviation")

    if bos is not None and "bos-operator" in people:
        with audit.acting_as(people["bos-operator"]):
            raise_deviation(reporter=people["bos-operator"], site=bos,
                            title="Biosafety cabinet airflow alarm",
                            description="BSC-3 downflow alarm during aseptic connection.",
                            classification="major", detected_at=now - timedelta(minutes=30))
    return {"escalated": escalated}
