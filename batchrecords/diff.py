"""What changed between two versions of a master record, step by step and field by field.

Steps are matched by a stable key (operation code + step code), materials by material code
and data fields by key, so a step that moved is "changed (position)", not removed and added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchrecords.exchange import export_version, with_defaults


@dataclass(frozen=True)
class Change:
    attribute: str
    old: object
    new: object


@dataclass
class Difference:
    kind: str  # "operation", "step", "material", "field", "version"
    key: str  # e.g. "SEL" / "SEL.S02" / "SEL.S02 CD19-BEADS" / "SEL.S02 viability"
    status: str  # "added", "removed", "changed"
    changes: list[Change] = field(default_factory=list)


def _changes(old: dict, new: dict, skip=()) -> list[Change]:
    names = [n for n in dict.fromkeys([*old, *new]) if n not in skip]
    return [Change(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)]


def _indexed(items: list[dict], key) -> dict[str, dict]:
    return {key(item): {**item, "position": i} for i, item in enumerate(items, start=1)}


def _compare(kind: str, old: dict[str, dict], new: dict[str, dict], skip=()) -> list:
    found = []
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            found.append(Difference(kind, key, "removed"))
        elif key not in old:
            found.append(Difference(kind, key, "added"))
        else:
            changes = _changes(old[key], new[key], skip)
            if changes:
                found.append(Difference(kind, key, "changed", changes))
    return found


def diff_documents(old: dict, new: dict) -> list[Difference]:
    """Differences between two (schema-valid) documents, in the procedure's order."""
    old, new = with_defaults(old), with_defaults(new)
    found = []
    header = _changes(
        {k: old.get(k) for k in ("title", "change_summary")},
        {k: new.get(k) for k in ("title", "change_summary")},
    )
    if header:
        found.append(Difference("version", "", "changed", header))
    old_ops = _indexed(old["operations"], lambda o: o["code"])
    new_ops = _indexed(new["operations"], lambda o: o["code"])
    found += _compare("operation", old_ops, new_ops, skip=("steps",))

    # A step is named "OPERATION/STEP": codes may hold dots but never a slash, so two steps
    # never share a name (with a dot, A + B.C and A.B + C did, and hid a change).
    def steps(ops):
        return {
            f"{code}/{s['code']}": s
            for code, op in ops.items()
            for s in _indexed(op["steps"], lambda s: s["code"]).values()
        }

    old_steps, new_steps = steps(old_ops), steps(new_ops)
    for difference in _compare("step", old_steps, new_steps, skip=("materials", "fields")):
        found.append(difference)
    # Materials and fields of a step in both versions (an added or removed step is one line).
    for key in [k for k in new_steps if k in old_steps]:
        before, after = old_steps[key], new_steps[key]
        for kind, items, by in (
            ("material", "materials", "material_code"),
            ("field", "fields", "key"),
        ):
            found += [
                Difference(d.kind, f"{key} {d.key}", d.status, d.changes)
                for d in _compare(
                    kind,
                    _indexed(before[items], lambda x, b=by: x[b]),
                    _indexed(after[items], lambda x, b=by: x[b]),
                )
            ]
    return _ordered(found, new_steps, old_steps)


def _ordered(found: list[Difference], new_steps: dict, old_steps: dict) -> list[Difference]:
    """Keep the procedure's order: the version header, then each step with its details."""
    order = {key: i for i, key in enumerate(dict.fromkeys([*new_steps, *old_steps]))}

    def rank(d: Difference):
        step_key = d.key.split(" ")[0]
        if d.kind == "version":
            return (-1, 0, "")
        if d.kind == "operation":
            first = min((i for k, i in order.items() if k.split("/")[0] == d.key), default=0)
            return (first, -1, d.key)
        return (order.get(step_key, 0), 0 if d.kind == "step" else 1, d.key)

    return sorted(found, key=rank)


def diff_versions(old, new) -> list[Difference]:
    return diff_documents(export_version(old), export_version(new))
