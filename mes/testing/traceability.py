"""Validation as code: link tests to requirements and emit a traceability matrix.

A GMP system is validated by showing, for every requirement, the evidence that it
is met (21 CFR 11.10(a), EU GMP Annex 11 §4). Rather than keeping that matrix in
a spreadsheet that drifts from the code, the requirements live in YAML files under
``docs/requirements/`` and each test names the requirements it proves with
``@pytest.mark.req("FND-AUD-001")``. Every test run can then write the matrix
(``--traceability DIR``) from what actually ran, on which commit, in which
environment.

The rules are deliberately strict, because the matrix is evidence:

* a malformed register or a marker naming an unknown requirement stops the run;
* a requirement is "proven" only if a linked test passed and none failed or
  errored; skips and expected failures (xfail) prove nothing;
* a requirement whose statement has parts lists them (``parts: {key: sentence}``) and
  tests name the part they prove (``@pytest.mark.req("COI-PAT-001:api")``); it is proven
  only when every part is, and the matrix names the parts still unproven. Naming such a
  requirement without a part is a collection error, so evidence is always per part.

Links travel in ``item.user_properties`` so the report also works under
pytest-xdist, where only the controller sees every test report.
"""

from __future__ import annotations

import html
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
import yaml

REQUIRED_KEYS = ("id", "statement", "reference", "risk")
RISKS = frozenset({"high", "medium", "low"})
PROPERTY = "requirements"
OUTCOME_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass(frozen=True)
class Requirement:
    id: str
    statement: str
    reference: str
    risk: str
    source: Path
    parts: dict[str, str] = field(default_factory=dict)

    def link_ids(self) -> list[str]:
        """The IDs a marker may name: the requirement's, or one per part when it has parts."""
        return [f"{self.id}:{key}" for key in self.parts] if self.parts else [self.id]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("traceability", "requirements traceability matrix")
    group.addoption(
        "--requirements-dir",
        default=None,
        metavar="DIR",
        help="directory of requirement registers (*.yaml); default: <rootdir>/docs/requirements",
    )
    group.addoption(
        "--traceability",
        default=None,
        metavar="DIR",
        help="write traceability.json and traceability.html to DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "req(*ids): links a test to the requirement IDs it proves")
    config.pluginmanager.register(TraceabilityPlugin(config), "mes-traceability")


def load_register(directory: Path) -> dict[str, Requirement]:
    """Read every ``*.yaml`` register in ``directory``; raise UsageError if malformed."""
    requirements: dict[str, Requirement] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except yaml.YAMLError as exc:
            raise pytest.UsageError(f"requirements register {path}: invalid YAML: {exc}") from exc
        if not isinstance(entries, list):
            raise pytest.UsageError(f"requirements register {path}: must be a list of entries")
        for index, entry in enumerate(entries, start=1):
            where = f"requirements register {path}, entry {index}"
            if not isinstance(entry, dict):
                raise pytest.UsageError(f"{where}: must be a mapping with keys {REQUIRED_KEYS}")
            where += f" ({entry.get('id', 'no id')})"
            missing = [
                k for k in REQUIRED_KEYS if not isinstance(entry.get(k), str) or not entry[k]
            ]
            if missing:
                raise pytest.UsageError(f"{where}: missing or empty text for {', '.join(missing)}")
            if entry["risk"] not in RISKS:
                raise pytest.UsageError(
                    f"{where}: risk {entry['risk']!r} is not one of {', '.join(sorted(RISKS))}"
                )
            if entry["id"] in requirements:
                first = requirements[entry["id"]].source
                raise pytest.UsageError(f"{where}: duplicate id, already defined in {first}")
            parts = entry.get("parts") or {}
            if not isinstance(parts, dict) or not all(
                isinstance(k, str) and k and ":" not in k and isinstance(v, str) and v.strip()
                for k, v in parts.items()
            ):
                raise pytest.UsageError(
                    f"{where}: parts must map a key (no ':') to a non-empty sentence"
                )
            requirements[entry["id"]] = Requirement(
                id=entry["id"],
                statement=entry["statement"].strip(),
                reference=entry["reference"],
                risk=entry["risk"],
                source=path,
                parts={k: v.strip() for k, v in parts.items()},
            )
    return requirements


def report_outcome(report: pytest.TestReport) -> str | None:
    """Map one phase report to passed/failed/skipped/error (None: says nothing)."""
    if hasattr(report, "wasxfail"):
        return "failed"  # an expected failure or xpass is not evidence the requirement holds
    if report.when == "call":
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def merge_outcome(previous: str | None, report: pytest.TestReport) -> str | None:
    """Fold one more report into a test's outcome: the worst wins, so no later report
    (a clean teardown, a second attempt) can hide an earlier failure."""
    outcome = report_outcome(report)
    if outcome not in OUTCOME_RANK:  # None, or another plugin's outcome such as "rerun"
        return previous
    if previous is None or OUTCOME_RANK[outcome] > OUTCOME_RANK[previous]:
        return outcome
    return previous


def requirement_ids(item: pytest.Item) -> list[str]:
    return list(dict.fromkeys(str(i) for m in item.iter_markers("req") for i in m.args))


def requirement_status(outcomes: list[str]) -> str:
    if any(o in ("failed", "error") for o in outcomes):
        return "failed"
    if "passed" in outcomes:
        return "proven"
    return "not proven"


def combined_status(statuses: list[str]) -> str:
    """A requirement with parts: failed if any part failed, proven only if every part is."""
    if "failed" in statuses:
        return "failed"
    if statuses and all(s == "proven" for s in statuses):
        return "proven"
    return "not proven"


def link_problem(link: str, requirements: dict[str, Requirement]) -> str | None:
    req_id, _, part = link.partition(":")
    req = requirements.get(req_id)
    if req is None:
        return f"names unknown requirement {link}"
    if part and part not in req.parts:
        return f"names unknown part {link} (parts: {', '.join(req.parts) or 'none'})"
    if not part and req.parts:
        return f"names {link} without a part; name one of {', '.join(req.link_ids())}"
    return None


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    statuses = [row["status"] for row in rows]
    return {
        "requirements": len(rows),
        "proven": statuses.count("proven"),
        "failed": statuses.count("failed"),
        "not_proven": statuses.count("not proven"),
    }


class TraceabilityPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.outcomes: dict[str, str] = {}
        self.links: dict[str, list[str]] = {}
        self.written: Path | None = None
        explicit = config.getoption("requirements_dir")
        invocation_dir = config.invocation_params.dir
        self.register_dir = (
            invocation_dir / explicit if explicit else config.rootpath / "docs" / "requirements"
        )
        self.loaded = self.register_dir.is_dir()
        if explicit and not self.loaded:
            raise pytest.UsageError(f"--requirements-dir {self.register_dir} is not a directory")
        self.requirements = load_register(self.register_dir) if self.loaded else {}
        target = config.getoption("traceability")
        self.output_dir = invocation_dir / target if target else None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        # An unknown ID turns into a collection error rather than a UsageError, because a
        # UsageError raised inside an xdist worker crashes the controller instead.
        report = yield
        if self.loaded and report.passed:
            problems = [
                f"{item.nodeid}: @pytest.mark.req {problem} (register: {self.register_dir})"
                for item in report.result
                if isinstance(item, pytest.Item)
                for link in requirement_ids(item)
                if (problem := link_problem(link, self.requirements))
            ]
            if problems:
                report.outcome, report.longrepr, report.result = "failed", "\n".join(problems), []
        return report

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if ids := requirement_ids(item):
                item.user_properties.append((PROPERTY, ",".join(ids)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.links[report.nodeid] = str(value).split(",")
        if outcome := merge_outcome(self.outcomes.get(report.nodeid), report):
            self.outcomes[report.nodeid] = outcome

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for req in self.requirements.values():
            tests, statuses, unproven = [], [], []
            for link in req.link_ids():
                linked = [
                    {"nodeid": nodeid, "outcome": self.outcomes.get(nodeid, "not run")}
                    for nodeid, ids in sorted(self.links.items())
                    if link in ids
                ]
                status = requirement_status([t["outcome"] for t in linked])
                statuses.append(status)
                if status != "proven" and req.parts:
                    unproven.append(link.partition(":")[2])
                if req.parts:
                    linked = [{**t, "part": link.partition(":")[2]} for t in linked]
                tests.extend(linked)
            row = {"id": req.id, "statement": req.statement, "reference": req.reference}
            row["parts"] = [
                {"key": key, "statement": text, "status": statuses[i]}
                for i, (key, text) in enumerate(req.parts.items())
            ]
            row["unproven_parts"] = unproven
            rows.append({**row, "risk": req.risk, "status": combined_status(statuses),
                         "tests": tests})
        return rows

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.output_dir is None or hasattr(self.config, "workerinput"):
            return
        rows = self.rows()
        data = {"metadata": run_metadata(self.config), "totals": totals(rows), "requirements": rows}
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "traceability.json").write_text(
            json.dumps(data, indent=2) + "\n", encoding="utf-8"
        )
        (self.output_dir / "traceability.html").write_text(render_html(data), encoding="utf-8")
        self.written = self.output_dir

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.loaded or self.config.option.collectonly or hasattr(self.config, "workerinput"):
            return
        counts = totals(self.rows())
        terminalreporter.write_sep("-", "traceability")
        terminalreporter.write_line(
            f"traceability: {counts['requirements']} requirements, {counts['proven']} proven, "
            f"{counts['failed']} failed, {counts['not_proven']} not proven"
        )
        if self.written:
            terminalreporter.write_line(f"traceability matrix written to {self.written}")


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def run_metadata(config: pytest.Config) -> dict[str, Any]:
    commit = _git(config.rootpath, "rev-parse", "HEAD")
    status = _git(config.rootpath, "status", "--porcelain") if commit else None
    try:
        django_version: str | None = version("Django")
    except PackageNotFoundError:
        django_version = None
    database_url = os.environ.get("DATABASE_URL", "")
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit.strip() if commit else "unknown",
        "git_dirty": bool(status.strip()) if status is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "django": django_version,
        "database": database_url.split("://", 1)[0] if "://" in database_url else "sqlite",
        "environment": os.environ.get("MES_TRACE_ENV"),
        "command": " ".join(sys.argv[1:]) or None,
    }


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1f2328}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d7de;padding:.4rem;
vertical-align:top;text-align:left}th{background:#f6f8fa}
.proven{background:#dafbe1}.failed{background:#ffd7d5}.not-proven{background:#ffebe9}
.summary span{display:inline-block;margin-right:1.5rem;font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}
ul{margin:0;padding-left:1.2rem}code{font-size:12px}
"""


def render_html(data: dict[str, Any]) -> str:
    """A self-contained page (inline CSS, no script, no external assets) for the record."""
    e = html.escape
    totals = data["totals"]
    meta = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in data["metadata"].items())
    rows = []
    for row in data["requirements"]:
        tests = "".join(
            f"<li>{e(t['part']) + ': ' if t.get('part') else ''}"
            f"<code>{e(t['nodeid'])}</code>: {e(t['outcome'])}</li>"
            for t in row["tests"]
        )
        parts = "".join(
            f"<li class=\"{e(p['status'].replace(' ', '-'))}\"><strong>{e(p['key'])}</strong>: "
            f"{e(p['statement'])} ({e(p['status'])})</li>"
            for p in row.get("parts", [])
        )
        statement = e(row["statement"]) + (f"<ul>{parts}</ul>" if parts else "")
        missing = row.get("unproven_parts") or []
        status = e(row["status"]) + (
            f"<br>untested parts: {e(', '.join(missing))}" if missing else ""
        )
        css = row["status"].replace(" ", "-")
        rows.append(
            f'<tr class="{css}"><td>{e(row["id"])}</td><td>{statement}</td>'
            f"<td>{e(row['reference'])}</td><td>{e(row['risk'])}</td>"
            f"<td><ul>{tests or '<li>no linked test</li>'}</ul></td>"
            f"<td><strong>{status}</strong></td></tr>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Traceability matrix</title>
<style>{CSS}</style></head><body>
<h1>Traceability matrix</h1>
<p class="summary"><span>{totals["requirements"]} requirements</span>
<span class="proven">{totals["proven"]} proven</span>
<span class="failed">{totals["failed"]} failed</span>
<span class="not-proven">{totals["not_proven"]} not proven</span></p>
<dl>{meta}</dl>
<table><thead><tr><th>ID</th><th>Statement</th><th>Reference</th><th>Risk</th>
<th>Tests</th><th>Status</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""
