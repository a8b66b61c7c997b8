"""Start-up refuses what cannot work, in one line with exit status 4: a weak secret key (check
--deploy's rule), a web server with no allowed host, a rediss:// Redis whose certificate cannot be
verified. Management commands print no INFO lines unless -v 2 or LOG_LEVEL asks."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from django.core.checks.security import base as django_security

from healthagent.settings import weak_secret_key
from tests.test_configuration import PYTHON, ROOT, bare_env, manage

STRONG = "s3cret-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN"
PRODUCTION = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": STRONG, "TELEGRAM_WEBHOOK_SECRET": "startup-test"}


def _one_line_refusal(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("healthagent: configuration error: ")
    for word in words:
        assert word in done.stderr


# --- the secret key -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["abc", "x" * 49 + "y", "ab" * 40, "django-insecure-" + STRONG, STRONG[:49]])
def test_a_weak_secret_key_is_refused(key):
    done = manage("check", env=bare_env(**{**PRODUCTION, "DJANGO_SECRET_KEY": key}))
    _one_line_refusal(done, "DJANGO_SECRET_KEY is too weak", "50 characters")
    assert key not in done.stderr  # a secret is never printed, even a weak one


@pytest.mark.parametrize("key", ["abc", "x" * 60, "abcd" * 13, "abcde" * 10, "django-insecure-" + STRONG, STRONG,
                                 STRONG[:49], STRONG[:50]])
def test_the_rule_is_check_deploys(key):
    """Ours must refuse exactly what Django's security.W009 warns about (a private function of
    Django's: this test fails if it goes or changes)."""
    assert weak_secret_key(key) == (not django_security._check_secret_key(key))


def test_debug_accepts_any_key():
    done = manage("check", env=bare_env(DJANGO_DEBUG="true", DJANGO_SECRET_KEY="abc"))
    assert done.returncode == 0, done.stderr


# --- the web server's hosts -----------------------------------------------------------------------------

def _wsgi(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", "import healthagent.wsgi; print('loaded')"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_server_with_no_allowed_host_does_not_start():
    _one_line_refusal(_wsgi(bare_env(**PRODUCTION)), "DJANGO_ALLOWED_HOSTS is empty")


@pytest.mark.parametrize("hosts", [{"DJANGO_ALLOWED_HOSTS": "bot.example.com"}, {"BOT_DOMAIN": "bot.example.com"}])
def test_a_server_with_a_host_starts(hosts):
    done = _wsgi(bare_env(**PRODUCTION, **hosts))
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr


def test_commands_need_no_allowed_host():
    done = manage("check", env=bare_env(**PRODUCTION))
    assert done.returncode == 0, done.stderr


def test_check_deploy_is_clean_with_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING",
                  env=bare_env(**PRODUCTION, BOT_DOMAIN="bot.example.com"))
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


# --- rediss:// ------------------------------------------------------------------------------------------

class TLSRedis:
    """A TLS server that answers every command +PONG: enough for a PING over rediss://."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes_failed = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(raw,), daemon=True).start()

    def _client(self, raw: socket.socket) -> None:
        try:
            with self.context.wrap_socket(raw, server_side=True) as conn:
                while conn.recv(4096):
                    conn.sendall(b"+PONG\r\n")
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = TLSRedis(cert, key)
    yield server, cert
    server.close()


def test_a_rediss_url_whose_certificate_cannot_be_verified_is_refused(tls_redis):
    server, _ = tls_redis
    url = f"rediss://:hunter2-secret@127.0.0.1:{server.port}/0"
    done = manage("migrate", "--check", env=bare_env(**PRODUCTION, REDIS_URL=url))
    _one_line_refusal(done, "REDIS_URL", "cannot be verified", "ssl_ca_certs")
    assert "hunter2" not in done.stderr
    _one_line_refusal(_wsgi(bare_env(**PRODUCTION, REDIS_URL=url, DJANGO_ALLOWED_HOSTS="x.example")), "ssl_ca_certs")


def test_a_rediss_url_naming_its_ca_is_accepted(tls_redis):
    from healthagent.startup_errors import redis_tls_problem

    server, cert = tls_redis
    url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={cert}"
    import django.conf

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django.conf.settings, "REDIS_URL", url, raising=False)
        assert redis_tls_problem() is None
        patch.setattr(django.conf.settings, "REDIS_URL", f"rediss://127.0.0.1:{server.port}/0")
        assert "cannot be verified" in (redis_tls_problem() or "")


def test_an_unreachable_rediss_url_is_not_a_configuration_error(settings):
    from healthagent.startup_errors import redis_tls_problem
    from tests.redis_server import free_port

    settings.REDIS_URL = f"rediss://127.0.0.1:{free_port()}/0"
    assert redis_tls_problem(timeout=0.5) is None  # the cache runs without Redis; this is an outage


# --- what commands print ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["cache_stats", "--json"], ["help"], ["check"]])
def test_commands_print_no_info_lines_by_default(args):
    done = manage(*args, env=bare_env())
    assert done.returncode == 0, done.stderr
    assert " INFO " not in done.stderr and " INFO " not in done.stdout


def test_commands_print_info_lines_with_verbosity_2_or_log_level():
    assert " INFO " in manage("check", "-v", "2", env=bare_env()).stderr
    assert " INFO " in manage("check", env=bare_env(LOG_LEVEL="INFO")).stderr
