"""Admin login is rate limited (django-axes) per client IP and per username, configured from the
environment (ADMIN_LOGIN_FAILURE_LIMIT, ADMIN_LOGIN_COOLOFF_MINUTES)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "the-right-password-7"


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def login(client, username, password, ip="203.0.113.5"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_then_the_right_one_does_not_log_in(client, boss, settings):
    statuses = [login(client, "boss", f"wrong-{i}").status_code for i in range(40)]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again
    assert set(statuses[settings.AXES_FAILURE_LIMIT:]) == {429}
    assert login(client, "boss", PASSWORD).status_code == 429
    assert not logged_in(client)


def test_fewer_failures_than_the_limit_still_log_in(client, boss, settings):
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "boss", f"wrong-{i}")
    assert login(client, "boss", PASSWORD).status_code == 302
    assert logged_in(client)


def test_one_username_is_locked_out_from_every_ip(client, boss, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, "boss", "wrong", ip=f"198.51.100.{i + 1}")
    assert login(client, "boss", PASSWORD, ip="192.0.2.77").status_code == 429
    assert not logged_in(client)


def test_one_ip_is_locked_out_for_every_username(client, boss, django_user_model, settings):
    django_user_model.objects.create_superuser("other", "other@example.com", PASSWORD)
    for i in range(settings.AXES_FAILURE_LIMIT):
        login(client, f"guess-{i}", "wrong", ip="203.0.113.9")
    assert login(client, "other", PASSWORD, ip="203.0.113.9").status_code == 429
    assert not logged_in(client)
    assert login(client, "other", PASSWORD, ip="203.0.113.10").status_code == 302  # another IP is not affected
    assert logged_in(client)


def test_the_limit_follows_the_setting(client, boss, settings):
    settings.AXES_FAILURE_LIMIT = 2
    login(client, "boss", "wrong")
    login(client, "boss", "wrong")
    assert login(client, "boss", PASSWORD).status_code == 429


def _settings_value(name, **env):
    environment = {**os.environ, "DJANGO_DEBUG": "true", **env}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-c", f"import healthagent.settings as s; print(s.{name})"],
        cwd=ROOT, env=environment, capture_output=True, text=True,
    )


def test_limit_and_cool_off_come_from_the_environment():
    assert _settings_value("AXES_FAILURE_LIMIT", ADMIN_LOGIN_FAILURE_LIMIT="7").stdout.strip() == "7"
    assert _settings_value("AXES_COOLOFF_TIME", ADMIN_LOGIN_COOLOFF_MINUTES="30").stdout.strip() == "0:30:00"
    assert _settings_value("AXES_LOCKOUT_PARAMETERS").stdout.strip() == "['ip_address', 'username']"
    bad = _settings_value("AXES_FAILURE_LIMIT", ADMIN_LOGIN_FAILURE_LIMIT="0")
    assert bad.returncode != 0 and "ADMIN_LOGIN_FAILURE_LIMIT must be at least 1" in bad.stderr
