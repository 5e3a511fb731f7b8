"""Batch records for the page benchmark: 200 patients' batches of 40 steps (at full scale),
built through the services as the demo is.

A bench product (``BENCH-EBR``) at LEI gets a process plan and an approved 40-step master
record (8 operations of 5 steps: the first step scans the patient's label, the others record
two numbers with limits and a yes/no). Twenty bench suites (capacity 10) each have a
registered terminal; every batch is booked from today in one of them, so any of its steps can
be performed now. Each batch is then performed up to a random step (the busy batch, the one
the pages show, exactly half way), by the demo's two operators in turn, with a value outside
the alert limits now and then.

``grow_batches`` returns what the benchmark needs afterwards: the terminals' secrets (for the
terminal's cookie and the API's header) and the busy batch.
"""

from __future__ import annotations

import datetime as dt
import random

STEPS_PER_OPERATION, OPERATIONS = 5, 8
SUITES, SUITE_CAPACITY = 20, 10
PRODUCT = "BENCH-EBR"


def master_document() -> dict:
    operations = []
    for o in range(1, OPERATIONS + 1):
        steps = []
        for s in range(1, STEPS_PER_OPERATION + 1):
            code = f"S{o}{s:02d}"
            step = {"code": code, "title": f"Bench step {o}.{s}",
                    "instructions": f"Do **step {o}.{s}** as the SOP says.",
                    "expected_minutes": 15,
                    "fields": [
                        {"key": f"count_{o}_{s}", "label": "Viable cell count",
                         "kind": "number", "unit": "10^6", "target": 100, "alert_low": 80,
                         "alert_high": 120, "action_low": 50, "action_high": 150},
                        {"key": f"viability_{o}_{s}", "label": "Viability", "kind": "number",
                         "unit": "%", "alert_low": 85, "action_low": 70},
                        {"key": f"checked_{o}_{s}", "label": "Line clearance checked",
                         "kind": "yes_no"},
                    ]}
            if o == 1 and s == 1:
                step["patient_label_scan"] = True
                step["critical"] = True
            steps.append(step)
        operations.append({"code": f"OP{o}", "name": f"Operation {o}", "steps": steps})
    return {"format": "cgt-mes/master-record@1", "product": PRODUCT,
            "title": "Bench autologous process", "change_summary": "First issue.",
            "operations": operations}


def values_for(step, rng: random.Random) -> dict[str, str]:
    values = {}
    for field in step.fields.all():
        if field.kind == "yes_no":
            values[field.key] = "yes"
        elif field.key.startswith("count"):
            values[field.key] = str(rng.choice([100, 95, 105, 110, 90] * 9 + [125]))
        else:
            values[field.key] = str(rng.randint(88, 99))
    return values


def label_for(patient) -> str:
    return patient.isbt.barcode_data if patient.din else patient.coi


def perform_next(run, *, operator, password: str, terminal, rng: random.Random):
    from batchrecords.services.execution import perform_step

    return perform_step(actor=operator, password=password, run=run, revision=run.revision,
                        terminal=terminal, values=values_for(run.step, rng),
                        label_scan=label_for(run.batch.patient) if run.step.patient_label_scan
                        else "")


def grow_batches(batches: int, *, rng: random.Random, say) -> dict:
    from django.utils import timezone

    from batchrecords.models import StepRun, StepStatus
    from batchrecords.services.batches import open_batch
    from batchrecords.services.versions import (
        approve_version,
        import_document,
        submit_for_review,
    )
    from custody.models import Product
    from custody.services import orders
    from mes import audit
    from mes.demo import DEMO_PASSWORD
    from mes.models import Site, User
    from scheduling import services as scheduling
    from scheduling.services.terminals import register_terminal

    people = {u.username: u for u in User.objects.filter(
        username__in=["admin", "supervisor", "qa", "planner", "operator", "operator2"])}
    lei, umcu = Site.objects.get(code="LEI"), Site.objects.get(code="UMCU")
    cart = Product.objects.get(code="CART-19")
    with audit.acting_as(people["admin"]):
        product, _ = Product.objects.get_or_create(
            code=PRODUCT, defaults={"name": "Bench CAR-T", "coi_scheme": cart.coi_scheme})
    scheduling.define_process_plan(actor=people["admin"], product=product, duration_days=10,
                                   qc_release_days=7, target_vein_to_vein_days=28)
    version = import_document(actor=people["supervisor"], site=lei, document=master_document())
    submit_for_review(actor=people["supervisor"], version=version)
    approve_version(actor=people["qa"], password=DEMO_PASSWORD, version=version,
                    reason="Bench: change control")
    say("bench master record approved")
    suites, secrets = [], {}
    for n in range(1, SUITES + 1):
        suite = scheduling.create_suite(actor=people["admin"], site=lei, code=f"BENCH-{n:02d}",
                                        name=f"Bench suite {n}", grade="B",
                                        batch_capacity=SUITE_CAPACITY)
        terminal, secret = register_terminal(actor=people["supervisor"], suite=suite,
                                             name=f"Bench terminal {n:02d}")
        suites.append((suite, terminal))
        secrets[suite.pk] = secret
    today = timezone.localtime(timezone.now(), lei.zone).date()
    operators = [people["operator"], people["operator2"]]
    busy_index = 1
    performed = 0
    for i in range(1, batches + 1):
        order = orders.place_order(actor=people["planner"], request=orders.OrderRequest(
            product=product, manufacturing_site=lei, ordering_site=umcu,
            initials="BE", date_of_birth=dt.date(1960, 1, 1) + dt.timedelta(days=i),
            full_name=f"Bench EBR Patient {i:04d}", hospital_record_number=f"EBR-{900000 + i}",
            planned_collection_date=today, external_reference=f"BENCH-EBR-{i:04d}"))
        suite, terminal = suites[(i - 1) % len(suites)]
        booking = scheduling.book(actor=people["planner"], order=order, suite=suite,
                                  start=today, reason="Bench: manufacturing from today")
        with audit.acting_as(people["supervisor"]):
            batch = open_batch(actor=people["supervisor"], patient=order.patient,
                               booking=booking, automatic=True)
        upto = STEPS_PER_OPERATION * OPERATIONS // 2 if i == busy_index else rng.randint(
            0, STEPS_PER_OPERATION * OPERATIONS - 5)
        runs = list(StepRun.objects.filter(batch=batch).select_related(
            "step", "batch__patient").order_by("sequence")[:upto])
        for k, run in enumerate(runs):
            perform_next(run, operator=operators[k % 2], password=DEMO_PASSWORD,
                         terminal=terminal, rng=rng)
            performed += 1
        if i % 20 == 0:
            say(f"batches {i}/{batches}, {performed} steps performed")
    say(f"batches {batches}, {performed} steps performed")
    busy = StepRun.objects.filter(
        batch__order__external_reference=f"BENCH-EBR-{busy_index:04d}",
        status=StepStatus.PENDING).order_by("sequence").select_related("batch").first()
    return {"terminal_secrets": {str(k): v for k, v in secrets.items()},
            "busy_batch": busy.batch_id, "busy_run": busy.pk,
            "busy_suite": busy.batch.booking.suite_id}


def targets() -> dict:
    """The busy batch and its next step (run in a configured Django process)."""
    from batchrecords.models import StepRun, StepStatus

    run = (StepRun.objects.filter(batch__order__external_reference="BENCH-EBR-0001",
                                  status=StepStatus.PENDING)
           .order_by("sequence").select_related("batch__booking").first())
    return {"batch": {"pk": run.batch_id},
            "batch_step": {"pk": run.batch_id, "run_pk": run.pk},
            "batch_suite": run.batch.booking.suite_id}


def perform_requests(count: int, *, seed: int = 11) -> tuple[str, list[dict]]:
    """``count`` steps to perform through the API, each the next step of another batch (not
    the busy one), with its body; and the operator's API token."""
    from rest_framework.authtoken.models import Token

    from batchrecords.models import StepRun, StepStatus
    from mes.demo import DEMO_PASSWORD
    from mes.models import User

    rng = random.Random(seed)
    operator = User.objects.get(username="operator")
    token, _ = Token.objects.get_or_create(user=operator)
    pending = (StepRun.objects.filter(batch__order__external_reference__startswith="BENCH-EBR-",
                                      status=StepStatus.PENDING)
               .exclude(batch__order__external_reference="BENCH-EBR-0001")
               .select_related("step", "batch__patient", "batch__booking")
               .order_by("batch_id", "sequence"))
    chosen, seen = [], set()
    for run in pending:
        if run.batch_id in seen:
            continue
        seen.add(run.batch_id)
        body = {"password": DEMO_PASSWORD, "revision": run.revision,
                "values": values_for(run.step, rng)}
        if run.step.patient_label_scan:
            body["label_scan"] = label_for(run.batch.patient)
        chosen.append({"batch": run.batch_id, "run": run.pk,
                       "suite": run.batch.booking.suite_id, "body": body})
        if len(chosen) == count:
            break
    return token.key, chosen


def measure_perform(base: str, token: str, requests_: list[dict], secrets: dict, *,
                    warm: int = 3) -> dict:
    """Perform each step through the API at one client (signature included: the password is
    checked with the project's hasher); the first ``warm`` are not counted."""
    import statistics
    import time

    import requests

    session = requests.Session()
    timings, failures = [], []
    for n, item in enumerate(requests_):
        url = (f"{base}/api/v1/batchrecords/batches/{item['batch']}/steps/{item['run']}"
               "/perform/")
        headers = {"Authorization": f"Token {token}",
                   "X-MES-Terminal": secrets[str(item["suite"])]}
        t0 = time.perf_counter()
        r = session.post(url, json=item["body"], headers=headers, timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code not in (200, 201):
            failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
            continue
        if n >= warm:
            timings.append(ms)
    ordered = sorted(timings)
    if not ordered:
        return {"error": failures[:3]}
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
            "failures": failures[:3]}
