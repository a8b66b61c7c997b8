"""HTTPS in the box: docker-compose.yml puts Caddy (docker/Caddyfile) in front of gunicorn, and Django
trusts exactly that proxy — the headers it believes are the ones the proxy sets, from the proxy's
address only — and answers with secure cookies, HSTS and a content security policy.

Docker itself cannot run where this suite runs: the files are read and checked against each other,
and `docker-compose config` validates the compose file where docker-compose is installed."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.test import Client

from healthagent import gunicorn_conf

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = (ROOT / "docker" / "Caddyfile").read_text()
PROXY, CLIENT_A, CLIENT_B = "172.30.0.10", "198.51.100.7", "198.51.100.8"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _proxy_block() -> str:
    return CADDYFILE[CADDYFILE.index("reverse_proxy"):]


def _header_up() -> dict[str, str]:
    return dict(re.findall(r"^\s*header_up\s+(\S+)\s+(\S+)\s*$", _proxy_block(), flags=re.MULTILINE))


# --- the compose file and the Caddyfile agree ---------------------------------------------------------

def test_only_the_proxy_publishes_ports_and_only_80_and_443(compose):
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert {name for name, ports in published.items() if ports} == {"proxy"}
    assert sorted(published["proxy"]) == ["443:443", "443:443/udp", "80:80"]
    assert compose["services"]["web"]["expose"] == ["8000"]


def test_the_proxy_forwards_to_gunicorns_internal_port(compose):
    match = re.search(r"reverse_proxy\s+(\w+):(\d+)", CADDYFILE)
    assert match and match.group(1) == "web" and match.group(2) in compose["services"]["web"]["expose"]
    proxy_networks = set(compose["services"]["proxy"]["networks"])
    assert proxy_networks & set(compose["services"]["web"]["networks"]) == {"edge"}
    assert "backend" not in proxy_networks  # the proxy cannot reach Redis or PostgreSQL
    assert compose["networks"]["backend"]["internal"] is True


def test_django_and_gunicorn_trust_the_proxys_address_only(compose):
    address = compose["services"]["proxy"]["networks"]["edge"]["ipv4_address"]
    subnet = ipaddress.ip_network(compose["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(address) in subnet
    assert compose["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"] == address
    # gunicorn reads the same variable (healthagent/gunicorn_conf.py), and no other peer by default.
    assert 'forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "")' in (ROOT / "healthagent/gunicorn_conf.py").read_text()


def test_the_headers_django_trusts_are_the_ones_the_proxy_sets(settings):
    sets = _header_up()
    assert sets == {"X-Forwarded-For": "{remote_host}", "X-Forwarded-Proto": "{scheme}"}
    # Django: https when X-Forwarded-Proto says "https" (Caddy's {scheme} on the https site).
    header, value = settings.SECURE_PROXY_SSL_HEADER
    assert header == "HTTP_" + "X-Forwarded-Proto".upper().replace("-", "_") and value == "https"
    # gunicorn: the same header and value make wsgi.url_scheme https (its default secure_scheme_headers).
    from gunicorn.config import Config

    assert Config().secure_scheme_headers.get("X-FORWARDED-PROTO") == "https"
    # The client's address: X-Forwarded-For, which the proxy replaces (healthagent/proxy.py reads it).
    assert "HTTP_X_FORWARDED_FOR" in (ROOT / "healthagent/proxy.py").read_text()
    assert not settings.USE_X_FORWARDED_HOST  # the proxy passes the Host header through unchanged


def test_the_proxy_cuts_slow_clients_and_keeps_metrics_inside():
    for timeout in ("read_header", "read_body", "write", "idle"):
        assert re.search(rf"^\s*{timeout}\s+\d+[sm]\s*$", CADDYFILE, flags=re.MULTILINE), timeout
    assert re.search(r"^\s*request_buffers\s+\d+", CADDYFILE, flags=re.MULTILINE)
    assert re.search(r"^\s*respond /metrics\*? 404$", CADDYFILE, flags=re.MULTILINE)
    assert re.search(r"^\{\$BOT_DOMAIN\} \{$", CADDYFILE, flags=re.MULTILINE)  # automatic https and http→https


def test_the_compose_file_mounts_this_caddyfile_and_keeps_certificates(compose):
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert "./docker/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert {v.split(":")[0] for v in proxy["volumes"]} >= {"caddy-data"} and "caddy-data" in compose["volumes"]
    assert proxy["environment"]["BOT_DOMAIN"].startswith("${BOT_DOMAIN:?")
    assert compose["services"]["web"]["environment"]["DJANGO_DEBUG"] == "false"


def test_a_prune_job_is_scheduled(compose):
    prune = compose["services"]["prune"]
    command = " ".join(prune["command"])
    assert "manage.py prune --older-than" in command and "sleep 86400" in command


def test_docker_compose_config_is_valid(tmp_path):
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {"PATH": os.environ.get("PATH", ""), "ENV_FILE": str(empty), "DJANGO_SECRET_KEY": "k" * 60,
           "TELEGRAM_WEBHOOK_SECRET": "s", "BOT_DOMAIN": "bot.example.com"}
    done = subprocess.run(["docker-compose", "--env-file", str(empty), "-f", str(ROOT / "docker-compose.yml"), "config"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["web"]["environment"]["BOT_DOMAIN"] == "bot.example.com"
    missing = {k: v for k, v in env.items() if k != "BOT_DOMAIN"}
    refused = subprocess.run(["docker-compose", "--env-file", str(empty), "-f", str(ROOT / "docker-compose.yml"), "config"],
                             env=missing, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "BOT_DOMAIN" in refused.stderr


# --- Django behind it ---------------------------------------------------------------------------------

@pytest.fixture
def behind_proxy(settings):
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network(PROXY)]
    settings.ALLOWED_HOSTS = ["bot.example.com"]
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return Client(HTTP_HOST="bot.example.com")


def _via_proxy(client_address: str, **extra) -> dict:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": client_address, "HTTP_X_FORWARDED_PROTO": "https", **extra}


@pytest.mark.django_db
def test_metrics_see_the_clients_address_not_the_proxys(behind_proxy, settings):
    settings.METRICS_TOKEN = ""
    assert behind_proxy.get("/metrics", **_via_proxy(CLIENT_A)).status_code == 403
    # The proxy's own loopback-like trust does not leak: a client claiming 127.0.0.1 directly is a client.
    assert behind_proxy.get("/metrics", REMOTE_ADDR=CLIENT_A, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    assert behind_proxy.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.django_db
def test_axes_locks_out_the_client_not_everyone_behind_the_proxy(behind_proxy, django_user_model, settings):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-password-7")
    for i in range(settings.AXES_FAILURE_LIMIT):
        behind_proxy.post("/admin/login/", {"username": f"nobody{i}", "password": "x"}, **_via_proxy(CLIENT_A))
    assert behind_proxy.post("/admin/login/", {"username": "boss", "password": "right-password-7"},
                             **_via_proxy(CLIENT_A)).status_code == 429
    other = Client(HTTP_HOST="bot.example.com")
    answer = other.post("/admin/login/?next=/admin/", {"username": "boss", "password": "right-password-7"},
                        **_via_proxy(CLIENT_B))
    assert answer.status_code == 302


@pytest.mark.django_db
def test_https_through_the_proxy_gets_hsts_secure_cookies_and_a_csp(behind_proxy):
    response = behind_proxy.get("/admin/login/", **_via_proxy(CLIENT_A))
    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["csrftoken"]["secure"] is True
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy and "*" not in policy  # nothing is loaded from elsewhere


@pytest.mark.django_db
def test_a_client_writing_the_proxy_headers_itself_is_not_believed(behind_proxy):
    """Straight to gunicorn (not the proxy's address): X-Forwarded-Proto https is not https."""
    response = behind_proxy.get("/admin/login/", REMOTE_ADDR=CLIENT_A, HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
def test_an_admin_login_over_https_passes_the_origin_check(behind_proxy, django_user_model, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://bot.example.com"]
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-password-7")
    csrf = Client(HTTP_HOST="bot.example.com", enforce_csrf_checks=True)
    page = csrf.get("/admin/login/", **_via_proxy(CLIENT_A))
    token = page.cookies["csrftoken"].value
    answer = csrf.post("/admin/login/?next=/admin/", {"username": "boss", "password": "right-password-7",
                       "csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://bot.example.com", **_via_proxy(CLIENT_A))
    assert answer.status_code == 302


@pytest.mark.parametrize("name", ["cache_dashboard.html", "index.html"])
def test_the_admin_templates_load_nothing_the_policy_blocks(name):
    template = (ROOT / "templates" / "admin" / name).read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", template)  # nothing from elsewhere
    assert "<script" not in template and "<style" not in template and "style=" not in template  # nothing inline


def test_gunicorn_runs_threads():
    assert gunicorn_conf.worker_class == "gthread" and gunicorn_conf.threads >= 16
