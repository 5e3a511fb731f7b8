"""The traceability plugin: requirements register, req markers and the matrix it writes.

Each test runs a throw-away pytest session in a subprocess (no Django, no project
conftest) against a register written into the pytester directory.
"""

import json
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import pytest
import yaml

from mes.testing.traceability import merge_outcome

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def only_this_plugin(monkeypatch):
    # Inner runs load no installed plugin unless asked (-p xdist.plugin): no Django, fast startup.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def requirement(req_id: str, statement: str = "The system does the thing.", **extra: str) -> dict:
    return {
        "id": req_id,
        "statement": statement,
        "reference": "21 CFR 11.10(e)",
        "risk": "high",
        **extra,
    }


def write_register(pytester: pytest.Pytester, entries: object, name: str = "mes.yaml") -> None:
    register = pytester.path / "reqs"
    register.mkdir(exist_ok=True)
    (register / name).write_text(yaml.safe_dump(entries, sort_keys=False), encoding="utf-8")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # An empty ini pins rootdir to the pytester directory so the project's pyproject is ignored.
    pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess(
        "-p", "mes.testing.traceability", "-p", "no:django", "-p", "no:cacheprovider", *args
    )


def run_with_matrix(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run(pytester, "--requirements-dir", "reqs", "--traceability", "out", *args)


def matrix(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "out" / "traceability.json").read_text(encoding="utf-8"))


def rows_by_id(pytester: pytest.Pytester) -> dict[str, dict]:
    return {row["id"]: row for row in matrix(pytester)["requirements"]}


@pytest.mark.req("FND-VAL-001:links")
def test_a_passing_linked_test_proves_each_requirement_it_names(pytester):
    write_register(pytester, [requirement("REQ-1"), requirement("REQ-2")])
    pytester.makepyfile(
        test_a="""
        import pytest

        pytestmark = pytest.mark.req("REQ-1")

        @pytest.mark.req("REQ-2")
        def test_ok():
            pass
        """
    )

    result = run_with_matrix(pytester)

    result.assert_outcomes(passed=1)
    rows = rows_by_id(pytester)
    for req_id in ("REQ-1", "REQ-2"):
        assert rows[req_id]["status"] == "proven"
        assert rows[req_id]["tests"] == [{"nodeid": "test_a.py::test_ok", "outcome": "passed"}]


@pytest.mark.req("FND-VAL-001:status")
def test_one_failing_linked_test_fails_the_requirement_even_if_another_passed(pytester):
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1")
        def test_ok():
            pass

        @pytest.mark.req("REQ-1")
        def test_broken():
            assert False
        """
    )

    run_with_matrix(pytester).assert_outcomes(passed=1, failed=1)

    row = rows_by_id(pytester)["REQ-1"]
    assert row["status"] == "failed"
    assert {t["nodeid"]: t["outcome"] for t in row["tests"]} == {
        "test_a.py::test_ok": "passed",
        "test_a.py::test_broken": "failed",
    }
    assert matrix(pytester)["totals"] == {
        "requirements": 1,
        "proven": 0,
        "failed": 1,
        "not_proven": 0,
    }


@pytest.mark.parametrize(
    ("body", "outcome", "status"),
    [
        ("def test_it():\n    pytest.skip('later')", "skipped", "not proven"),
        ("@pytest.mark.xfail\ndef test_it():\n    assert False", "failed", "failed"),
        (
            "@pytest.fixture\ndef broken():\n    raise RuntimeError\n\n"
            "def test_it(broken):\n    pass",
            "error",
            "failed",
        ),
        (
            "@pytest.fixture\ndef leaky():\n    yield\n    raise RuntimeError\n\n"
            "def test_it(leaky):\n    pass",
            "error",
            "failed",
        ),
    ],
    ids=["skip", "xfail", "setup-error", "teardown-error"],
)
@pytest.mark.req("FND-VAL-001:status")
def test_only_a_clean_pass_counts_as_evidence(pytester, body, outcome, status):
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(test_a="import pytest\n\npytestmark = pytest.mark.req('REQ-1')\n\n" + body)

    run_with_matrix(pytester)

    row = rows_by_id(pytester)["REQ-1"]
    assert row["tests"] == [{"nodeid": "test_a.py::test_it", "outcome": outcome}]
    assert row["status"] == status


def phase_report(when: str, outcome: str) -> pytest.TestReport:
    return pytest.TestReport("t.py::test_it", ("t.py", 0, "test_it"), {}, outcome, None, when)


@pytest.mark.parametrize(
    ("previous", "when", "outcome", "merged"),
    [
        (None, "setup", "passed", None),
        ("failed", "call", "passed", "failed"),
        ("passed", "teardown", "failed", "error"),
        ("error", "call", "failed", "error"),
        ("passed", "call", "rerun", "passed"),
    ],
)
@pytest.mark.req("FND-VAL-001:status")
def test_a_later_report_never_hides_a_worse_outcome(previous, when, outcome, merged):
    assert merge_outcome(previous, phase_report(when, outcome)) == merged


@pytest.mark.req("FND-VAL-001:status")
def test_a_requirement_without_a_linked_test_is_not_proven(pytester):
    write_register(pytester, [requirement("REQ-1"), requirement("REQ-2")])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1")
        def test_ok():
            pass

        def test_unlinked():
            pass
        """
    )

    run_with_matrix(pytester).assert_outcomes(passed=2)

    rows = rows_by_id(pytester)
    assert rows["REQ-2"]["status"] == "not proven"
    assert rows["REQ-2"]["tests"] == []
    assert matrix(pytester)["totals"]["not_proven"] == 1


@pytest.mark.req("FND-VAL-001:links")
def test_an_unknown_requirement_id_in_a_marker_stops_the_run(pytester):
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1", "REQ-404")
        def test_typo():
            pass
        """
    )

    result = run(pytester, "--requirements-dir", "reqs")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_a.py::test_typo*unknown requirement REQ-404*"])


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"id": "REQ-1", "statement": "s", "risk": "high"}], "*entry 1 (REQ-1)*reference*"),
        ([requirement("REQ-1", risk="critical")], "*entry 1 (REQ-1)*risk 'critical'*"),
        ({"id": "REQ-1"}, "*mes.yaml: must be a list*"),
        ([requirement("REQ-1"), "REQ-2"], "*mes.yaml, entry 2: must be a mapping*"),
        ([requirement("REQ-1", parts=["a"])], "*entry 1 (REQ-1)*parts must map*"),
        ([requirement("REQ-1", parts={"a:b": "x"})], "*entry 1 (REQ-1)*parts must map*"),
        ([requirement("REQ-1", parts={"a": " "})], "*entry 1 (REQ-1)*parts must map*"),
    ],
    ids=["missing-key", "bad-risk", "not-a-list", "not-a-mapping", "parts-list",
         "part-key-colon", "part-empty"],
)
@pytest.mark.req("FND-VAL-001:register")
def test_a_malformed_register_is_a_usage_error(pytester, entries, message):
    write_register(pytester, entries)
    pytester.makepyfile(test_a="def test_ok():\n    pass")

    result = run(pytester, "--requirements-dir", "reqs")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.req("FND-VAL-003:proven", "FND-VAL-003:names-untested")
def test_a_requirement_is_proven_only_when_every_part_of_its_statement_is(pytester):
    parts = {"ui": "The page refuses it.", "api": "The API refuses it."}
    write_register(pytester, [requirement("REQ-1", parts=parts), requirement("REQ-2", parts=parts)])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1:ui", "REQ-2:ui")
        def test_page():
            pass

        @pytest.mark.req("REQ-2:api")
        def test_api():
            pass
        """
    )

    run_with_matrix(pytester).assert_outcomes(passed=2)

    rows = rows_by_id(pytester)
    assert rows["REQ-1"]["status"] == "not proven"
    assert rows["REQ-1"]["unproven_parts"] == ["api"]
    assert [(p["key"], p["status"]) for p in rows["REQ-1"]["parts"]] == [
        ("ui", "proven"), ("api", "not proven"),
    ]
    assert rows["REQ-2"]["status"] == "proven"
    assert {(t["part"], t["nodeid"]) for t in rows["REQ-2"]["tests"]} == {
        ("ui", "test_a.py::test_page"), ("api", "test_a.py::test_api"),
    }
    page = (pytester.path / "out" / "traceability.html").read_text(encoding="utf-8")
    assert "untested parts: api" in page


@pytest.mark.req("FND-VAL-003:bare-id")
@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("REQ-1", "*names REQ-1 without a part; name one of REQ-1:ui, REQ-1:api*"),
        ("REQ-1:db", "*names unknown part REQ-1:db (parts: ui, api)*"),
        ("REQ-2:ui", "*names unknown part REQ-2:ui (parts: none)*"),
    ],
)
def test_a_marker_must_name_an_existing_part_of_a_requirement_with_parts(
    pytester, marker, message
):
    parts = {"ui": "The page refuses it.", "api": "The API refuses it."}
    write_register(pytester, [requirement("REQ-1", parts=parts), requirement("REQ-2")])
    pytester.makepyfile(
        test_a=f"""
        import pytest

        @pytest.mark.req("{marker}")
        def test_it():
            pass
        """
    )

    result = run(pytester, "--requirements-dir", "reqs")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])


@pytest.mark.req("FND-VAL-001:register")
def test_a_requirement_id_used_twice_across_registers_is_a_usage_error(pytester):
    write_register(pytester, [requirement("REQ-1")], name="a.yaml")
    write_register(pytester, [requirement("REQ-2"), requirement("REQ-1")], name="b.yaml")
    pytester.makepyfile(test_a="def test_ok():\n    pass")

    result = run(pytester, "--requirements-dir", "reqs")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*b.yaml, entry 2 (REQ-1): duplicate id*a.yaml*"])


@pytest.mark.req("FND-VAL-001:metadata")
def test_the_matrix_records_the_run_metadata(pytester, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://mes:secret@db:5432/mes")
    monkeypatch.setenv("MES_TRACE_ENV", "qualification-site-2")
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(test_a="def test_ok():\n    pass")
    before = datetime.now(UTC).replace(microsecond=0)

    run_with_matrix(pytester).assert_outcomes(passed=1)

    metadata = matrix(pytester)["metadata"]
    assert before <= datetime.fromisoformat(metadata["generated_at"]) <= datetime.now(UTC)
    assert metadata["git_commit"] == "unknown"  # the pytester directory is not a git checkout
    assert metadata["git_dirty"] is None
    assert metadata["python"] == platform.python_version()
    assert metadata["platform"] == platform.platform()
    try:
        assert metadata["django"] == version("Django")
    except PackageNotFoundError:
        assert metadata["django"] is None
    assert metadata["database"] == "postgres"
    assert metadata["environment"] == "qualification-site-2"
    assert "secret" not in json.dumps(metadata)


@pytest.mark.req("FND-VAL-001:metadata")
def test_without_database_url_the_matrix_says_sqlite(pytester, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MES_TRACE_ENV", raising=False)
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(test_a="def test_ok():\n    pass")

    run_with_matrix(pytester)

    metadata = matrix(pytester)["metadata"]
    assert metadata["database"] == "sqlite"
    assert metadata["environment"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.req("FND-VAL-001:metadata")
def test_the_matrix_records_the_git_commit_and_whether_the_tree_was_dirty(pytester):
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(test_a="def test_ok():\n    pass")
    pytester.makeini("[pytest]\n")
    (pytester.path / ".gitignore").write_text("__pycache__/\nrunpytest-*\nout/\nstdout\nstderr\n")

    def git(*args: str) -> str:
        command = ["git", "-c", "user.name=QA", "-c", "user.email=qa@example.org", *args]
        return subprocess.run(
            command, cwd=pytester.path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "baseline")

    run_with_matrix(pytester)
    clean = matrix(pytester)["metadata"]
    (pytester.path / "test_a.py").write_text("def test_ok():\n    assert True\n")
    run_with_matrix(pytester)
    dirty = matrix(pytester)["metadata"]

    assert clean["git_commit"] == git("rev-parse", "HEAD")
    assert clean["git_dirty"] is False
    assert dirty["git_dirty"] is True


@pytest.mark.req("FND-VAL-001:formats")
def test_the_html_matrix_is_a_self_contained_page_with_statuses(pytester, monkeypatch):
    monkeypatch.setenv("MES_TRACE_ENV", "qualification-site-2")
    write_register(
        pytester,
        [requirement("REQ-1", statement="Dose volume < 5 mL is refused."), requirement("REQ-2")],
    )
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1")
        def test_ok():
            pass
        """
    )

    run_with_matrix(pytester)

    page = (pytester.path / "out" / "traceability.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    for external in ("<script", "<link", "src=", "http://", "https://"):
        assert external not in page
    assert "1 proven" in page
    assert "1 not proven" in page
    assert '<tr class="proven"><td>REQ-1</td>' in page
    assert '<tr class="not-proven"><td>REQ-2</td>' in page
    assert "Dose volume &lt; 5 mL is refused." in page
    assert "test_a.py::test_ok" in page
    assert "qualification-site-2" in page


@pytest.mark.req("FND-VAL-001:formats")
def test_the_terminal_summary_counts_statuses_before_pytests_final_line(pytester):
    write_register(pytester, [requirement("REQ-1"), requirement("REQ-2")])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-1")
        def test_ok():
            pass
        """
    )

    result = run_with_matrix(pytester)

    result.stdout.fnmatch_lines(
        [
            "*- traceability -*",
            "traceability: 2 requirements, 1 proven, 0 failed, 1 not proven",
            f"traceability matrix written to {pytester.path / 'out'}",
        ]
    )
    assert "1 passed" in result.stdout.lines[-1]


@pytest.mark.req("FND-VAL-001:links")
def test_without_a_register_the_plugin_stays_out_of_the_way(pytester):
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("ANY-ID")
        def test_ok():
            pass
        """
    )

    result = run(pytester)

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "traceability" not in result.stdout.str()


@pytest.mark.req("FND-VAL-001:register")
def test_an_explicit_requirements_dir_that_does_not_exist_is_a_usage_error(pytester):
    pytester.makepyfile(test_a="def test_ok():\n    pass")

    result = run(pytester, "--requirements-dir", "missing")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--requirements-dir*missing is not a directory*"])


@pytest.mark.req("FND-VAL-001:formats")
def test_the_matrix_is_complete_when_tests_run_on_xdist_workers(pytester):
    pytest.importorskip("xdist")
    write_register(pytester, [requirement("REQ-1"), requirement("REQ-2")])
    for name in ("test_a", "test_b", "test_c"):
        pytester.makepyfile(
            **{
                name: f"""
                import pytest

                @pytest.mark.req("REQ-1")
                def test_{name}_ok():
                    pass
                """
            }
        )
    pytester.makepyfile(
        test_d="""
        import pytest

        @pytest.mark.req("REQ-2")
        def test_broken():
            assert False
        """
    )

    result = run_with_matrix(pytester, "-p", "xdist.plugin", "-n", "2")

    result.assert_outcomes(passed=3, failed=1)
    rows = rows_by_id(pytester)
    assert rows["REQ-1"]["status"] == "proven"
    assert len(rows["REQ-1"]["tests"]) == 3
    assert rows["REQ-2"]["status"] == "failed"
    assert result.stdout.str().count("traceability: 2 requirements") == 1


@pytest.mark.req("FND-VAL-001:links")
def test_an_unknown_requirement_id_fails_the_run_under_xdist(pytester):
    pytest.importorskip("xdist")
    write_register(pytester, [requirement("REQ-1")])
    pytester.makepyfile(
        test_a="""
        import pytest

        @pytest.mark.req("REQ-404")
        def test_typo():
            pass
        """
    )

    result = run(pytester, "--requirements-dir", "reqs", "-p", "xdist.plugin", "-n", "2")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*test_a.py::test_typo*unknown requirement REQ-404*"])
