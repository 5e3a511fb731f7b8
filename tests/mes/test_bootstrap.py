"""The README's two commands: environment detection and idempotent installation."""

import pytest

from mes import bootstrap

UNREACHABLE_PG = "postgres://postgres@127.0.0.1:1/mes"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.req("FND-RUN-001:test-environment")
def test_without_postgresql_a_developer_run_falls_back_to_sqlite(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setenv("REDIS_URL", UNREACHABLE_REDIS)
    monkeypatch.delenv("CI", raising=False)
    env = bootstrap.test_environment()
    assert "DATABASE_URL" not in env and "REDIS_URL" not in env
    assert "running on SQLite" in capsys.readouterr().out


@pytest.mark.req("FND-RUN-001:test-environment")
def test_under_ci_missing_postgresql_fails_loudly(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="CI needs PostgreSQL"):
        bootstrap.test_environment()


@pytest.mark.req("FND-RUN-001:test-environment")
def test_under_ci_missing_redis_fails_loudly(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE_PG)
    monkeypatch.setattr(bootstrap, "answers", lambda url, port: True)
    monkeypatch.setenv("REDIS_URL", UNREACHABLE_REDIS)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="CI needs Redis"):
        bootstrap.test_environment()


@pytest.mark.req("FND-RUN-001:install-once")
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


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose; its parent (the supervisor) has exited
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", [
    pytest.param("SIGTERM", marks=pytest.mark.req("FND-RUN-005:sigterm")),
    pytest.param("SIGINT", marks=pytest.mark.req("FND-RUN-005:ctrl-c")),
])
def test_the_demo_supervisor_stops_web_server_and_worker_on_sigterm_and_ctrl_c(tmp_path, how):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    pids = tmp_path / "pids"
    child = ("import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); "
             "time.sleep(120)")
    script = (
        "import sys; from mes.bootstrap import supervise; "
        f"sys.exit(supervise([[sys.executable, '-c', {child!r}, {str(pids)!r}]] * 2, grace=5))"
    )
    supervisor = subprocess.Popen([sys.executable, "-c", script], cwd=Path(bootstrap.ROOT))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2 and all(_alive(p) for p in children)

    supervisor.send_signal(getattr(signal, how))

    assert supervisor.wait(timeout=15) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in children):
        time.sleep(0.05)
    assert not any(_alive(p) for p in children)


@pytest.mark.req("FND-RUN-001:demo")
def test_the_demo_command_loads_the_demo_and_runs_web_server_and_worker_with_beat(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(bootstrap, "ensure_environment", lambda: None)
    monkeypatch.setattr(bootstrap, "redis_answers", lambda url: False)
    ran, supervised = [], []
    monkeypatch.setattr(bootstrap, "run", lambda *args, env=None: ran.append((args[2], env)))
    monkeypatch.setattr(bootstrap, "supervise",
                        lambda commands, env=None, **kw: supervised.append(commands) or 0)

    assert bootstrap.demo([]) == 0

    assert [command for command, _ in ran] == ["migrate", "grant_app_role", "load_demo"]
    assert all("DATABASE_URL" not in env for _, env in ran)  # the settings' SQLite default
    [(web, worker)] = supervised
    assert web[0].endswith("gunicorn") and "mes.wsgi" in web
    assert worker[0].endswith("celery") and worker[1:4] == ["-A", "mes", "worker"]
    assert "--beat" in worker
