"""Production settings pass Django's deployment checks and fail loudly when misconfigured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "pumptrack.settings.production",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-for-the-check-only-0123456789abcdef",
    "DJANGO_ALLOWED_HOSTS": "pumptrack.example.org",
    "DATABASE_URL": "sqlite:////tmp/pumptrack-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "EMAIL_", "PUMPTRACK_TRUSTED"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_prints_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "missing",
    ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "EMAIL_BACKEND"],
)
def test_production_refuses_to_start_without_required_settings(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_production_headers_and_cookies_are_strict():
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.X_FRAME_OPTIONS, s.DEBUG)"
    )
    result = manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True True True True DENY False"


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    ],
)
def test_production_refuses_an_email_backend_that_delivers_nothing(backend):
    result = manage("check", env={**PRODUCTION_ENV, "EMAIL_BACKEND": backend})
    assert result.returncode != 0
    assert "delivers nothing" in result.stderr


def test_forwarded_proto_is_trusted_only_behind_a_configured_proxy():
    code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"
    alone = manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.strip().splitlines()[-1] == "None"
    proxied = manage(
        "shell", "-c", code, env={**PRODUCTION_ENV, "PUMPTRACK_TRUSTED_PROXIES": "172.30.0.10"}
    )
    assert proxied.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    deploy = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION_ENV, "PUMPTRACK_TRUSTED_PROXIES": "172.30.0.10"},
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
