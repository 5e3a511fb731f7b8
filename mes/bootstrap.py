#!/usr/bin/env python3
"""Set-up and run commands for a fresh machine; needs only Python 3.11+ (stdlib only).

    python3 -m mes.bootstrap demo    # venv, install, migrate SQLite, demo data, web + worker/beat
    python3 -m mes.bootstrap test    # venv, install, the whole suite (+ traceability matrix)

Both are idempotent: the virtual environment is reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
VAR = ROOT / "var"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/mes"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def say(message: str) -> None:
    print(f"[mes] {message}", flush=True)


def run(*args: str | Path, env: dict | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is required.")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    if stamp.exists() and PYTHON.exists():
        return
    if not PYTHON.exists():
        say(f"creating the virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    say("installing the project and its dependencies")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1",
                                       parsed.port or default_port), timeout=1.5):
            return True
    except OSError:
        return False


def redis_answers(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379),
                                      timeout=1.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_environment() -> dict:
    env = dict(os.environ)
    ci = env.get("CI", "").lower() in {"1", "true", "yes"}
    database = env.get("DATABASE_URL") or DEFAULT_PG
    redis = env.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    if answers(database, 5432):
        env["DATABASE_URL"] = database
    elif ci:
        sys.exit(f"CI needs PostgreSQL, and nothing answers at {database}.")
    else:
        env.pop("DATABASE_URL", None)
        say("PostgreSQL is not reachable: running on SQLite; PostgreSQL-only tests are skipped.")
    if redis_answers(redis):
        env["REDIS_URL"] = redis
    elif ci:
        sys.exit(f"CI needs Redis, and nothing answers at {redis}.")
    else:
        env.pop("REDIS_URL", None)
        say("Redis is not reachable: the Celery worker tests are skipped.")
    env.setdefault("MES_TRACE_ENV", "ci" if ci else "developer")
    return env


def test(extra: list[str]) -> int:
    ensure_environment()
    env = test_environment()
    workers = env.get("PYTEST_WORKERS", "2")
    args = [str(PYTHON), "-m", "pytest", "--traceability", str(VAR / "traceability")]
    if workers not in {"0", "1"}:
        args += ["-n", workers, "--dist", "loadgroup"]
    return subprocess.run(args + extra, cwd=ROOT, env=env).returncode


def demo(extra: list[str]) -> int:
    ensure_environment()
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("MES_DEMO", "1")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    if "REDIS_URL" not in env and redis_answers(DEFAULT_REDIS):
        env["REDIS_URL"] = DEFAULT_REDIS
    broker = "Redis at " + env["REDIS_URL"] if env.get("REDIS_URL") else "the embedded broker"
    port = env.get("PORT", "8000")
    VAR.mkdir(exist_ok=True)
    manage = [str(PYTHON), "manage.py"]
    run(*manage, "migrate", "--noinput", env=env)
    run(*manage, "grant_app_role", env=env)
    run(*manage, "load_demo", env=env)
    say(f"starting the Celery worker with beat on {broker}")
    say(f"open http://127.0.0.1:{port}/  (log in with a demo account above; Ctrl+C stops)")
    say(f"API docs: http://127.0.0.1:{port}/api/v1/docs/   health: http://127.0.0.1:{port}/health/")
    say(f"e-mails are written to {VAR / 'mail'}")
    return supervise([
        [str(BIN / "gunicorn"), "mes.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--access-logfile", "-", *extra],
        [str(BIN / "celery"), "-A", "mes", "worker", "--beat", "--loglevel=WARNING",
         "--concurrency=1", "--pool=solo", f"--schedule={VAR / 'celerybeat-schedule'}"],
    ], env=env)


class _Stop(Exception):
    """SIGTERM (a service manager, `kill`, a container stop) ends the demo like Ctrl+C."""


def _stop_on_sigterm(signum, frame):
    raise _Stop


def supervise(commands: list[list[str]], *, env: dict | None = None, grace: float = 10) -> int:
    """Run the commands side by side until the first one ends, Ctrl+C or SIGTERM; then stop
    every one of them (SIGTERM, and SIGKILL after ``grace`` seconds), so nothing is left
    running. Returns the first command's exit status (0 when stopped by a signal)."""
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    processes: list[subprocess.Popen] = []
    try:
        for command in commands:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env))
        return processes[0].wait()
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut this short
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "install"}:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    if command == "install":
        ensure_environment()
        return 0
    return {"demo": demo, "test": test}[command](extra)


if __name__ == "__main__":
    sys.exit(main())
