"""Demo data: the autologous anti-CD19 CAR-T master record at Leiden, 40 steps in 8
operations (receipt and identity verification, cell selection, activation, transduction with
a calculated vector dose volume, expansion with daily counts and viability limits, harvest,
formulation and fill into labelled bags, cryopreservation), authored by the supervisor and
approved by QA; and a newer draft with a few changes, so the diff shows something.

Then five patients' batches at different stages (``demo_batches``).

The record itself is a master record document (``demo_data/cart19-master-record.json``), the
same format the API imports and exports. Everything goes through the services; loading
again adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from batchrecords.models import MasterRecordVersion, Step
from batchrecords.services import authoring
from batchrecords.services import versions as lifecycle
from custody.models import Product
from mes.demo import DEMO_PASSWORD
from mes.models import Site, User

DOCUMENT_PATH = Path(__file__).parent / "demo_data" / "cart19-master-record.json"
DOCUMENT = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def load() -> None:
    _master_record()
    # Five patients' batches, made through the execution services (demo_batches).
    from batchrecords import demo_batches

    demo_batches.load()


def _master_record() -> None:
    people = {u.username: u for u in User.objects.filter(username__in=["supervisor", "qa"])}
    site = Site.objects.filter(code="LEI").first()
    product = Product.objects.filter(code="CART-19").first()
    if len(people) < 2 or site is None or product is None:
        return
    if MasterRecordVersion.objects.filter(master__product=product, master__site=site).exists():
        return
    author, qa = people["supervisor"], people["qa"]
    first = lifecycle.import_document(actor=author, site=site, document=DOCUMENT)
    lifecycle.submit_for_review(actor=author, version=first)
    lifecycle.approve_version(
        actor=qa,
        password=DEMO_PASSWORD,
        version=first,
        reason="Approved under change control CC-2026-014",
    )
    # The next version, still a draft: a tighter viability limit, a longer incubation,
    # an extra sterility sample.
    draft = lifecycle.new_version_from(
        actor=author,
        source=first,
        change_summary="Tighter viability action limit at harvest; in-process sterility "
        "sample on day 5; longer post-transduction incubation.",
    )
    operations = {op.code: op for op in draft.operations.all()}
    steps = {
        (s.operation.code, s.code): s
        for s in Step.objects.filter(operation__version=draft).select_related("operation")
    }
    authoring.change_step(
        actor=author,
        step=steps[("TRANSDUCE", "T05")],
        expected_minutes=1800,
        reason="CC-2026-031: 30 h incubation",
    )
    field = steps[("HARVEST", "H03")].fields.get(key="viability_harvest")
    authoring.change_data_field(
        actor=author, field=field, action_low=75, reason="CC-2026-031: tighter action limit"
    )
    extra = authoring.add_step(
        actor=author,
        operation=operations["EXPAND"],
        code="E09",
        title="In-process sterility sample",
        instructions="Sample **1 mL** for sterility.",
        expected_minutes=15,
        na_allowed=True,
    )
    authoring.add_data_field(
        actor=author, step=extra, key="sterility_sample_id", label="Sample ID", kind="text"
    )
