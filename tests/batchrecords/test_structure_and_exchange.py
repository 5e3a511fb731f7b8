"""The procedure's structure, its rules, the JSON document (export, import, the schema) and
the diff between versions."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batchrecords.diff import diff_documents, diff_versions
from batchrecords.exchange import SCHEMA_PATH, export_version
from batchrecords.formulas import check_formula, evaluate
from batchrecords.markdown import render_instructions
from batchrecords.models import DataField, MasterRecordVersion, Step, StepMaterial
from batchrecords.services import authoring
from batchrecords.services import versions as lifecycle
from tests.refusals import refused


def _counts():
    return (
        MasterRecordVersion.objects.count(),
        Step.objects.count(),
        DataField.objects.count(),
        MasterRecordVersion.history.count(),
        Step.history.count(),
    )


@pytest.mark.req("MBR-STRUCT-001")
def test_every_attribute_of_a_step_is_kept(imported):
    step = Step.objects.get(operation__version=imported, code="T01")
    assert (
        step.expected_minutes,
        step.window_min_minutes,
        step.window_max_minutes,
        step.parallel_group,
    ) == (20, 60, 120, "PREP")
    dose = Step.objects.get(operation__version=imported, code="T02")
    assert dose.second_person_verification and dose.na_allowed
    assert dose.equipment_type_code == "BSC"
    receipt = Step.objects.get(operation__version=imported, code="R01")
    assert receipt.patient_label_scan and receipt.critical
    assert receipt.required_qualifications == ["GOWN-B"]
    material = StepMaterial.objects.get(step=dose)
    assert (material.material_code, material.quantity, material.unit, material.tolerance) == (
        "LV-CD19",
        Decimal("2.5"),
        "mL",
        Decimal("0.25"),
    )
    vcc = DataField.objects.get(step=step, key="vcc")
    assert (
        vcc.kind,
        vcc.unit,
        vcc.target,
        vcc.alert_low,
        vcc.alert_high,
        vcc.action_low,
        vcc.action_high,
    ) == ("number", "10^6/mL", Decimal("1.5"), 1, 2, Decimal("0.5"), 3)
    kinds = set(
        DataField.objects.filter(step__operation__version=imported).values_list("kind", flat=True)
    )
    assert kinds == set(DataField.Kind.values)
    assert DataField.objects.get(key="method").options == ["Manual", "Pump"]


@pytest.mark.req("MBR-STRUCT-002")
def test_instructions_are_sanitised_markdown():
    html = render_instructions(
        "**Check** the seal <script>alert(1)</script> "
        "<img src=x onerror=alert(1)> [go](javascript:alert(1))"
    )
    assert "<strong>Check</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html


@pytest.mark.req("MBR-STRUCT-003:formula")
@pytest.mark.parametrize(
    "formula",
    [
        "vcc * unknown",
        "__import__('os').system('x')",
        "vcc.__class__",
        "vcc.real",
        "'abc' * 3",
        "min(vcc, key=abs)",
        "open('x')",
        "vcc +",
        "remarks_later",
    ],
)
def test_a_formula_naming_unknown_fields_or_code_is_refused(imported, author, formula):
    step = Step.objects.get(operation__version=imported, code="T01")
    before = _counts()
    with refused("invalid_formula", field="formula"):
        authoring.add_data_field(
            actor=author, step=step, key="calc", label="Calc", kind="calculated", formula=formula
        )
    assert _counts() == before


@pytest.mark.req("MBR-STRUCT-003:formula")
def test_a_formula_reads_only_fields_recorded_before_it(imported, author):
    receipt = Step.objects.get(operation__version=imported, code="R01")
    with refused("invalid_formula", match="unknown fields: vcc"):
        authoring.add_data_field(
            actor=author,
            step=receipt,
            key="early",
            label="Early",
            kind="calculated",
            formula="vcc * 2",
        )
    dose = Step.objects.get(operation__version=imported, code="T02")
    field = authoring.add_data_field(
        actor=author,
        step=dose,
        key="cells",
        label="Cells",
        kind="calculated",
        unit="10^6",
        formula="vcc * volume",
    )
    assert field.formula == "vcc * volume"


@pytest.mark.req("MBR-STRUCT-003:numbers-only")
def test_a_formula_reads_only_numbers(imported, author, document):
    dose = Step.objects.get(operation__version=imported, code="T02")
    before = _counts()
    with refused("invalid_formula", match="not numbers: method"):
        authoring.add_data_field(actor=author, step=dose, key="calc", label="Calc",
                                 kind="calculated", formula="5 * method")
    assert _counts() == before
    # a number that a later formula reads cannot become text either
    volume = DataField.objects.get(step__operation__version=imported, key="volume")
    with refused("invalid_master_record") as refusal:
        authoring.change_data_field(actor=author, field=volume, kind="text", unit="",
                                    reason="Typed as text")
    assert "not numbers: volume" in str(refusal.value.fields)
    volume.refresh_from_db()
    assert volume.kind == "number"
    # and an import naming a choice in a formula is refused at the formula's path
    document["operations"][1]["steps"][1]["fields"][1]["formula"] = "5 * method"
    with refused("invalid_master_record") as refusal:
        lifecycle.import_document(actor=author, site=imported.master.site, document=document)
    assert "not numbers: method" in str(refusal.value.fields)
    assert _counts() == before


@pytest.mark.req("MBR-STRUCT-003:limits")
@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"kind": "number", "alert_low": 5, "action_low": 6}, "target"),
        ({"kind": "number", "target": 10, "alert_high": 9}, "target"),
        ({"kind": "text", "target": 1}, "target"),
        ({"kind": "choice", "options": ["Only"]}, "options"),
        ({"kind": "text", "options": ["A", "B"]}, "options"),
        ({"kind": "number", "formula": "vcc"}, "formula"),
    ],
)
def test_field_rules_are_checked_when_authored(imported, author, attrs, field):
    step = Step.objects.get(operation__version=imported, code="T01")
    before = _counts()
    kind = attrs.pop("kind")
    with refused("invalid_field", field=field):
        authoring.add_data_field(
            actor=author, step=step, key="newfield", label="New", kind=kind, **attrs
        )
    assert _counts() == before


@pytest.mark.req("MBR-STRUCT-003:evaluate")
def test_a_formula_evaluates_over_recorded_values():
    value = evaluate(
        "5 * vcc * volume / titer",
        {"vcc": Decimal("1.2"), "volume": Decimal("100"), "titer": Decimal("20")},
    )
    assert value == Decimal("30.0")


@pytest.mark.req("MBR-STRUCT-003:bounded")
@pytest.mark.parametrize("formula", ["9 ** 3999999", "a ** b", "2 ** (3 ** 4)", "a ** 11"])
def test_a_power_is_refused_unless_its_exponent_is_a_small_number(formula):
    with refused("invalid_formula", match="power"):
        check_formula(formula, {"a", "b"})
    assert check_formula("a ** 2 + a ** -0.5", {"a"}) == {"a"}


@pytest.mark.req("MBR-STRUCT-003:bounded")
def test_a_formula_without_a_finite_result_is_refused():
    with refused("invalid_formula", match="finite"):
        evaluate("a * 1e308 * 10", {"a": Decimal(1)})
    with refused("invalid_formula", match="finite"):
        check_formula("a * 1e308 * 10 - a * 1e308 * 10", {"a"})


@pytest.mark.req("MBR-STRUCT-003:evaluate")
def test_a_formula_is_stored_as_people_compute_it():
    assert evaluate("a + b", {"a": Decimal("0.1"), "b": Decimal("0.2")}) == Decimal("0.3")
    assert evaluate("a * 3", {"a": Decimal("1.1")}) == Decimal("3.3")
    assert evaluate("round(a)", {"a": Decimal("2.5")}) == Decimal("3")
    assert evaluate("round(a, 1)", {"a": Decimal("0.25")}) == Decimal("0.3")


@pytest.mark.req("MBR-XCH-001")
def test_export_import_export_gives_an_identical_document(imported, author, site):
    first = export_version(imported)
    copy = lifecycle.import_document(
        actor=author, site=site, document=json.loads(json.dumps(first))
    )
    assert copy.pk != imported.pk and copy.number == 2
    assert export_version(copy) == first


@pytest.mark.req("MBR-XCH-001")
def test_the_demo_record_round_trips(author, site, product):
    from batchrecords.demo import DOCUMENT

    document = {**DOCUMENT, "product": product.code}
    version = lifecycle.import_document(actor=author, site=site, document=document)
    first = export_version(version)
    again = lifecycle.import_document(actor=author, site=site, document=first)
    assert export_version(again) == first
    assert sum(len(op["steps"]) for op in first["operations"]) == 40


@pytest.mark.req("MBR-XCH-002")
def test_a_malformed_document_is_refused_with_the_path_of_each_error(
    author, site, product, document
):
    document["operations"][1]["steps"][0]["code"] = "bad code"
    document["operations"][1]["steps"][1]["materials"][0]["quantity"] = -1
    document["operations"][0]["steps"][0]["fields"][0]["kind"] = "colour"
    del document["title"]
    before = _counts()
    with refused("invalid_master_record") as info:
        lifecycle.import_document(actor=author, site=site, document=document)
    assert set(info.value.fields) == {
        "$",
        "$.operations[1].steps[0].code",
        "$.operations[1].steps[1].materials[0].quantity",
        "$.operations[0].steps[0].fields[0].kind",
    }
    assert _counts() == before


@pytest.mark.req("MBR-XCH-002")
def test_rules_beyond_the_schema_are_refused_with_their_paths(author, site, product, document):
    document["operations"][1]["steps"][1]["code"] = "T01"
    document["operations"][1]["steps"][1]["fields"][1]["formula"] = "vcc * nothing"
    document["operations"][1]["steps"][0]["window_max_minutes"] = 10
    before = _counts()
    with refused("invalid_master_record") as info:
        lifecycle.import_document(actor=author, site=site, document=document)
    assert set(info.value.fields) == {
        "$.operations[1].steps[1].code",
        "$.operations[1].steps[1].fields[1].formula",
        "$.operations[1].steps[0].window_max_minutes",
    }
    assert _counts() == before


@pytest.mark.req("MBR-XCH-003")
def test_the_schema_file_is_a_valid_json_schema_that_accepts_every_export(imported):
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(export_version(imported), schema)


@pytest.mark.req("MBR-DIFF-001")
def test_the_diff_lists_steps_and_fields_added_removed_and_changed(effective, author):
    draft = lifecycle.new_version_from(actor=author, source=effective)
    t01 = Step.objects.get(operation__version=draft, code="T01")
    authoring.change_step(actor=author, step=t01, expected_minutes=30, reason="Longer count")
    vcc = DataField.objects.get(step=t01, key="vcc")
    authoring.change_data_field(actor=author, field=vcc, action_high=4, reason="Wider")
    new_step = authoring.add_step(
        actor=author, operation=t01.operation, code="T03", title="Incubate"
    )
    authoring.add_data_field(
        actor=author, step=new_step, key="temp", label="Temp", kind="number", unit="°C"
    )
    found = {(d.kind, d.key, d.status): d.changes for d in diff_versions(effective, draft)}
    assert set(found) == {
        ("version", "", "changed"),
        ("step", "TRANSDUCE/T01", "changed"),
        ("field", "TRANSDUCE/T01 vcc", "changed"),
        ("step", "TRANSDUCE/T03", "added"),
    }
    step_changes = found[("step", "TRANSDUCE/T01", "changed")]
    assert [(c.attribute, c.old, c.new) for c in step_changes] == [("expected_minutes", 20, 30)]
    field_changes = found[("field", "TRANSDUCE/T01 vcc", "changed")]
    assert [(c.attribute, c.old, c.new) for c in field_changes] == [("action_high", 3, 4)]
    backwards = {(d.kind, d.key, d.status) for d in diff_versions(draft, effective)}
    assert ("step", "TRANSDUCE/T03", "removed") in backwards


@pytest.mark.req("MBR-DIFF-001")
def test_the_diff_matches_steps_by_code_not_position(document):
    moved = json.loads(json.dumps(document))
    steps = moved["operations"][1]["steps"]
    steps.reverse()
    moved["operations"][1]["steps"][1]["fields"].pop()  # T01 (now second) loses "titer"
    found = {(d.kind, d.key, d.status) for d in diff_documents(document, moved)}
    assert ("step", "TRANSDUCE/T01", "changed") in found
    assert ("step", "TRANSDUCE/T02", "changed") in found
    assert not any(status in ("added", "removed") and kind == "step" for kind, _, status in found)


@pytest.mark.req("MBR-DIFF-001")
def test_the_diff_sees_a_change_when_codes_hold_dots(document):
    # operation A with step B.C, and operation A.B with step C: two steps, two names
    base = json.loads(json.dumps(document))
    first, second = base["operations"][0], base["operations"][1]
    first["code"], first["steps"][0]["code"] = "A", "B.C"
    second["code"], second["steps"][0]["code"] = "A.B", "C"
    changed = json.loads(json.dumps(base))
    changed["operations"][0]["steps"][0]["title"] = "Something else"
    found = {(d.kind, d.key, d.status) for d in diff_documents(base, changed)}
    assert ("step", "A/B.C", "changed") in found


def _retire(model, code):
    from mes import audit

    record = model.objects.get(code=code)
    record.is_active = False
    audit.stamp(record, user=audit.system_user(), reason="Withdrawn")
    record.save()


@pytest.mark.req("MBR-STRUCT-004:import")
def test_an_import_naming_codes_no_register_holds_is_refused_at_their_paths(
    author, site, product, document
):
    from training.models import Qualification

    steps = document["operations"][1]["steps"]
    steps[0]["required_qualifications"] = ["NO-SUCH-SKILL"]
    steps[1]["materials"][0]["material_code"] = "NO-SUCH-MATERIAL"
    steps[1]["equipment_type_code"] = "NO-SUCH-TYPE"
    _retire(Qualification, "GOWN-B")  # R01's qualification: still in the register, inactive
    before = _counts()
    with refused("unregistered_code") as info:
        lifecycle.import_document(actor=author, site=site, document=document)
    assert info.value.fields == {
        "$.operations[0].steps[0].required_qualifications[0]": [
            "GOWN-B is not an active qualification in the training register."],
        "$.operations[1].steps[0].required_qualifications[0]": [
            "NO-SUCH-SKILL is not an active qualification in the training register."],
        "$.operations[1].steps[1].materials[0].material_code": [
            "NO-SUCH-MATERIAL is not an active material in the reagents register."],
        "$.operations[1].steps[1].equipment_type_code": [
            "NO-SUCH-TYPE is not an equipment type in the scheduling register."],
    }
    assert _counts() == before


@pytest.mark.req("MBR-STRUCT-004:edit")
def test_an_edit_naming_an_unregistered_code_is_refused_at_its_field(imported, author):
    from reagents.models import Material

    step = Step.objects.get(operation__version=imported, code="T01")
    operation = step.operation
    before = _counts(), StepMaterial.objects.count()
    with refused("unregistered_code", field="required_qualifications", match="NOPE"):
        authoring.add_step(actor=author, operation=operation, code="T09", title="X",
                           required_qualifications=["GOWN-B", "NOPE"])
    with refused("unregistered_code", field="equipment_type_code"):
        authoring.change_step(actor=author, step=step, equipment_type_code="NOPE", reason="r")
    with refused("unregistered_code", field="material_code"):
        authoring.add_material(actor=author, step=step, material_code="NOPE", quantity=1,
                               unit="mL")
    _retire(Material, "LV-CD19")
    with refused("unregistered_code", field="material_code", match="LV-CD19"):
        authoring.add_material(actor=author, step=step, material_code="LV-CD19", quantity=1,
                               unit="mL")
    assert (_counts(), StepMaterial.objects.count()) == before
    step.refresh_from_db()
    assert step.equipment_type_code == ""


@pytest.mark.req("MBR-STRUCT-004:submit")
def test_a_copy_keeps_a_retired_code_until_fixed_and_is_not_submitted_with_it(
    effective, author
):
    from training.models import Qualification

    _retire(Qualification, "GOWN-B")  # retired since v1 was approved
    draft = lifecycle.new_version_from(actor=author, source=effective, change_summary="Next")
    with refused("unregistered_code") as info:
        lifecycle.submit_for_review(actor=author, version=draft)
    assert list(info.value.fields) == ["$.operations[0].steps[0].required_qualifications[0]"]
    draft.refresh_from_db()
    assert draft.status == MasterRecordVersion.Status.DRAFT
    receipt = Step.objects.get(operation__version=draft, code="R01")
    authoring.change_step(actor=author, step=receipt, required_qualifications=[],
                          reason="GOWN-B withdrawn")
    assert lifecycle.submit_for_review(actor=author, version=draft).status == "in_review"


@pytest.mark.req("MBR-STRUCT-004:product")
def test_an_inactive_product_gets_no_new_or_changed_draft(imported, author, site, document):
    product = imported.master.product
    step = Step.objects.get(operation__version=imported, code="T01")
    _retire(type(product), product.code)
    before = _counts()
    with refused("product_inactive", field="$.product"):
        lifecycle.import_document(actor=author, site=site, document=document)
    with refused("product_inactive"):
        lifecycle.create_draft(actor=author, product=product, site=site, title="Again")
    with refused("product_inactive"):
        authoring.change_step(actor=author, step=step, title="Count the cells", reason="r")
    assert _counts() == before


def _bounded(node, path="$"):
    """Every array and string of the schema that has no upper bound, by its path."""
    missing = []
    if isinstance(node, dict):
        kinds = node.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "array" in kinds and "maxItems" not in node:
            missing.append(path)
        if "string" in kinds and "maxLength" not in node and "pattern" not in node:
            missing.append(path)
        if "string" in kinds and "pattern" in node and "maxLength" not in node:
            missing.append(path)
        if "object" in kinds and "maxProperties" not in node:
            missing.append(path)
        for key, value in node.items():
            missing += _bounded(value, f"{path}.{key}")
    return missing


@pytest.mark.req("MBR-XCH-004:bounds")
def test_every_array_string_and_object_of_the_schema_has_an_upper_bound():
    assert _bounded(json.loads(SCHEMA_PATH.read_text())) == []


@pytest.mark.req("MBR-XCH-004:bounds")
@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d.update(operations=[{}] * 100_000), "$.operations", "At most 50 items."),
        (lambda d: d["operations"][1]["steps"][0]["fields"].extend([{}] * 51),
         "$.operations[1].steps[0].fields", "At most 50 items."),
        (lambda d: d["operations"][1]["steps"][1]["materials"].extend([{}] * 30),
         "$.operations[1].steps[1].materials", "At most 30 items."),
        (lambda d: d["operations"][1]["steps"][1]["fields"][0].update(options=["o"] * 31),
         "$.operations[1].steps[1].fields[0].options", "At most 30 items."),
        (lambda d: d["operations"][0]["steps"][0].update(required_qualifications=["Q"] * 21),
         "$.operations[0].steps[0].required_qualifications", "At most 20 items."),
        (lambda d: d["operations"][0]["steps"][0].update(instructions="x" * 1_000_000),
         "$.operations[0].steps[0].instructions", "At most 20000 characters."),
        (lambda d: d.update(title="T" * 201), "$.title", "At most 200 characters."),
    ],
    ids=["operations", "fields", "materials", "options", "qualifications", "instructions",
         "title"],
)
def test_a_huge_document_is_refused_at_its_first_bound_unread(
    author, site, product, document, change, path, message
):
    change(document)
    before = _counts()
    with refused("invalid_master_record") as info:
        lifecycle.import_document(actor=author, site=site, document=document)
    # the bound is the only error: what lies beyond it (here {} items) was never walked
    assert info.value.fields == {path: [message]}
    assert _counts() == before


@pytest.mark.req("MBR-XCH-004:parse")
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format": "a", "title": "x", "title": "y"}', "“title” appears twice"),
        ('{"operations": [{"code": "A", "steps": [], "code": "B"}]}', "“code” appears twice"),
        ('{"title": NaN}', "NaN is not a number"),
        ('{"title": "a\\u0000b"}', "NUL character is not allowed \\(at \\$.title\\)"),
        ('{"t\\u0000": 1}', "NUL character is not allowed in a key"),
        (b'{"title": "a\x00b"}', "NUL character is not allowed in a master record"),
        ("[" * 12 + "]" * 12, "nested more than 10 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested more than 10 levels"),
        ('{"title": ', "Not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
    ids=["duplicate", "duplicate-nested", "nan", "nul", "nul-key", "nul-byte", "deep",
         "very-deep", "truncated", "not-utf8"],
)
def test_a_document_text_is_refused_cleanly(text, match):
    from batchrecords.exchange import parse_json

    with refused("invalid_master_record", match=match, field="$"):
        parse_json(text)


@pytest.mark.req("MBR-XCH-004:parse")
def test_a_well_formed_text_reads_as_its_document(document):
    from batchrecords.exchange import parse_json

    assert parse_json(json.dumps(document).encode()) == document


@pytest.mark.req("MBR-STRUCT-002")
def test_a_relative_link_in_instructions_keeps_its_text_and_loses_its_address():
    html = render_instructions(
        "[admin](/admin/) [up](../batches/3/) [host](//evil.example/x) [here](#top) "
        "[SOP](https://docs.example/sop-12)")
    assert html.count("href=") == 1 and 'href="https://docs.example/sop-12"' in html
    assert ">admin</a>" in html and ">up</a>" in html
