"""Behind the reverse proxy: lockout per real client, forwarding headers only from the proxy
(issue 9 #5), and the compose file that puts nginx in front of gunicorn."""

import re
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import Role
from pumptrack.proxy import client_ip
from tests.factories import staff

ROOT = Path(__file__).resolve().parents[2]
PROXY = "172.30.0.10"
PASSWORD = "correct horse battery"


@pytest.fixture
def behind_proxy(settings):
    settings.PUMPTRACK_TRUSTED_PROXIES = [PROXY]
    return settings


def sign_in(client, user, password, *, remote, forwarded_for=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.post(
        reverse("accounts:login"), {"username": user.username, "password": password}, **extra
    )


def test_a_guesser_behind_the_proxy_does_not_lock_the_real_user_out(client, behind_proxy, nurse):
    for _ in range(6):
        sign_in(client, nurse, "wrong", remote=PROXY, forwarded_for="198.51.100.7")
    assert (
        sign_in(client, nurse, PASSWORD, remote=PROXY, forwarded_for="198.51.100.7").status_code
        == 429
    )
    # The nurse at her own desk, through the same proxy, signs in.
    response = sign_in(client, nurse, PASSWORD, remote=PROXY, forwarded_for="203.0.113.9")
    assert response.status_code == 302


def test_a_client_cannot_escape_the_lockout_by_prepending_addresses(client, behind_proxy, nurse):
    """nginx appends nothing: it replaces the header; even so, only the rightmost untrusted
    hop counts, so a client-written prefix changes nothing."""
    for n in range(5):
        sign_in(client, nurse, "wrong", remote=PROXY, forwarded_for=f"10.9.9.{n}, 198.51.100.7")
    response = sign_in(client, nurse, PASSWORD, remote=PROXY, forwarded_for="1.2.3.4, 198.51.100.7")
    assert response.status_code == 429


def test_a_spoofed_forwarded_for_on_a_direct_connection_does_not_escape_lockout(
    client, behind_proxy, nurse
):
    for n in range(5):
        sign_in(client, nurse, "wrong", remote="198.51.100.7", forwarded_for=f"203.0.113.{n}")
    response = sign_in(client, nurse, PASSWORD, remote="198.51.100.7", forwarded_for="203.0.113.99")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_without_a_configured_proxy_forwarding_headers_are_ignored(client, settings, clinic):
    settings.PUMPTRACK_TRUSTED_PROXIES = []
    user = staff(clinic, Role.NURSE)
    for n in range(5):
        sign_in(client, user, "wrong", remote=PROXY, forwarded_for=f"203.0.113.{n}")
    assert (
        sign_in(client, user, PASSWORD, remote=PROXY, forwarded_for="203.0.113.77").status_code
        == 429
    )


@pytest.mark.parametrize(
    "remote,forwarded,expected",
    [
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # direct: the header is not believed
        (PROXY, "203.0.113.9", "203.0.113.9"),
        (PROXY, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (PROXY, f"203.0.113.9, {PROXY}", "203.0.113.9"),
        (PROXY, "not-an-address", PROXY),
        (PROXY, "", PROXY),
    ],
)
def test_client_ip(behind_proxy, remote, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_x_forwarded_proto_counts_only_from_the_proxy(client, behind_proxy, db):
    behind_proxy.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy.SECURE_SSL_REDIRECT = True
    url = reverse("accounts:login")
    direct = client.get(url, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https")
    assert direct.status_code == 301 and direct["Location"].startswith("https://")
    proxied = client.get(url, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200


# --------------------------------------------------------------------------- the compose file


def services(text: str) -> dict[str, str]:
    """Each service's block of docker-compose.yml (no YAML parser in the dependencies)."""
    body = text.split("\nservices:\n", 1)[1]
    body = re.split(r"\n(?=\S)", body, maxsplit=1)[0]
    blocks = re.split(r"\n(?=  [a-z][\w-]*:\n)", "\n" + body)
    return {b.strip().split(":", 1)[0]: b for b in blocks if b.strip()}


def test_compose_puts_nginx_in_front_and_publishes_no_gunicorn_port():
    text = (ROOT / "docker-compose.yml").read_text()
    blocks = services(text)
    assert {"web", "proxy", "worker", "beat", "postgres", "redis"} <= set(blocks)
    published = {name for name, block in blocks.items() if re.search(r"^\s+ports:", block, re.M)}
    assert published == {"proxy"}
    proxy = blocks["proxy"]
    assert re.search(r"image: nginx:", proxy)
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy
    assert f"ipv4_address: {PROXY}" in proxy
    # The app trusts exactly that address, and gunicorn believes its scheme header only from it.
    assert f"PUMPTRACK_TRUSTED_PROXIES: {PROXY}" in text
    assert f"--forwarded-allow-ips {PROXY}" in blocks["web"]
    assert re.search(r"subnet: 172\.30\.0\.0/24", text)
    # The folded command stays one shell command per line (a newline would end it early).
    gunicorn_line = next(line for line in blocks["web"].splitlines() if "gunicorn " in line)
    assert "--forwarded-allow-ips" in gunicorn_line


def test_nginx_replaces_the_forwarding_headers_and_proxies_to_gunicorn():
    conf = (ROOT / "deploy/nginx.conf").read_text()
    directives = {line.strip() for line in conf.splitlines()}
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in directives
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in directives
    assert "proxy_set_header Host $host;" in directives
    assert "proxy_pass http://pumptrack_web;" in directives
    assert "server web:8000;" in directives
    assert "$proxy_add_x_forwarded_for" not in conf  # would pass on a client's own header
    assert "return 301 https://$host$request_uri;" in directives
