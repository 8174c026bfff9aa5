"""The production image installs runtime dependencies only, at the dev lock's versions; Celery
tasks have time limits (issue 9 #10)."""

import re
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", re.M)


def pins(path: Path) -> dict[str, str]:
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in PIN.findall(path.read_text())
    }


def dev_tools() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0]).lower()
        for dep in project["optional-dependencies"]["dev"]
    }


def test_the_runtime_lock_holds_no_test_tools_and_matches_the_dev_lock():
    runtime = pins(ROOT / "requirements.runtime.lock")
    dev = pins(ROOT / "requirements.lock")
    assert runtime, "requirements.runtime.lock pins nothing"
    leaked = (dev_tools() | {"pytest", "playwright", "hypothesis", "ruff"}) & set(runtime)
    assert not leaked, f"dev tools in the runtime lock: {sorted(leaked)}"
    differing = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differing, f"runtime pins that differ from requirements.lock: {differing}"


def test_the_runtime_lock_covers_every_main_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = pins(ROOT / "requirements.runtime.lock")
    for dep in project["dependencies"]:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=\[ ;]", dep, maxsplit=1)[0]).lower()
        assert name in runtime, name


def test_the_dockerfile_installs_the_runtime_lock_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.runtime.lock" in dockerfile
    assert not re.search(r"requirements\.lock\b", dockerfile)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", ".venv", ".env", "var"} <= set(ignored)


def test_the_lock_target_compiles_both_locks_the_same_way():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c requirements.lock -o requirements.runtime.lock" in makefile
    header = (ROOT / "requirements.runtime.lock").read_text().splitlines()[1]
    assert "uv pip compile pyproject.toml --python-version 3.11" in header
    assert "--extra dev" not in header


def test_celery_tasks_have_soft_and_hard_time_limits_above_the_send_timeout():
    soft, hard = settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT
    assert settings.REMINDERS["SEND_TIMEOUT_SECONDS"] < soft < hard
    # The defaults also leave a killed send to the stuck-send recovery, never before.
    assert hard < settings.REMINDERS["STUCK_SENDING_SECONDS"]
    from pumptrack.celery import app

    assert app.conf.task_soft_time_limit == soft
    assert app.conf.task_time_limit == hard
