"""The README's two commands: environment detection and idempotent installation."""

import pytest

from mes import bootstrap

UNREACHABLE_PG = "postgres://postgres@127.0.0.1:1/mes"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.req("FND-RUN-001")
def test_without_postgresql_a_developer_run_falls_back_to_sqlite(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setenv("REDIS_URL", UNREACHABLE_REDIS)
    monkeypatch.delenv("CI", raising=False)
    env = bootstrap.test_environment()
    assert "DATABASE_URL" not in env and "REDIS_URL" not in env
    assert "running on SQLite" in capsys.readouterr().out


@pytest.mark.req("FND-RUN-001")
def test_under_ci_missing_postgresql_fails_loudly(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="CI needs PostgreSQL"):
        bootstrap.test_environment()


@pytest.mark.req("FND-RUN-001")
def test_under_ci_missing_redis_fails_loudly(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setattr(bootstrap, "answers", lambda url, port: True)
    monkeypatch.setenv("REDIS_URL", UNREACHABLE_REDIS)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="CI needs Redis"):
        bootstrap.test_environment()


@pytest.mark.req("FND-RUN-001")
def test_the_environment_is_installed_once_per_pyproject(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    venv = tmp_path / ".venv"
    monkeypatch.setattr(bootstrap, "ROOT", tmp_path)
    monkeypatch.setattr(bootstrap, "VENV", venv)
    monkeypatch.setattr(bootstrap, "PYTHON", venv / "bin" / "python")
    installs = []

    def fake_create(self, path):
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").touch()

    monkeypatch.setattr(bootstrap.venv.EnvBuilder, "create", fake_create)
    monkeypatch.setattr(bootstrap, "run", lambda *args, **kw: installs.append(args))
    bootstrap.ensure_environment()
    first = len(installs)
    bootstrap.ensure_environment()
    assert first == 2 and len(installs) == 2  # the second call installs nothing
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    bootstrap.ensure_environment()
    assert len(installs) == 4  # a changed pyproject reinstalls
