"""`python -m tools.conformance.compat` (`make compat`): django-redis's test suite against our backend.

Downloads the sdist of the installed django-redis version once (pip, into a cache directory that
is never committed), starts a redis-server of its own on a free loopback port, runs the suite's
`tests/` with the project's CACHES (tools/conformance/compat/settings.py) as the one settings variant, and
prints passed / failed with the intended deviations. Exit status 0 only if exactly the deviations
below fail: another failure is a regression, a deviation that passes must leave the list.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import django_redis

from caching.servers.process import ServerError
from tools.conformance import sdist
from tools.redis_server import RedisServer, free_port, system_redis_server

ROOT = Path(__file__).resolve().parents[3]
VARIANT = "healthagent"

# test id (file::class::name, parameters dropped) -> why our backend answers differently on purpose.
DEVIATIONS = {
    "test_cache_options.py::test_get_django_omit_exceptions": (
        "breaker instead of IGNORE_EXCEPTIONS logging: a failing Redis is logged once per breaker "
        "state change (WARNING), not once per call at ERROR ('Exception ignored')"
    ),
    "test_cache_options.py::test_get_django_omit_exceptions_priority_2": (
        "IGNORE_EXCEPTIONS=False is refused at start-up (ImproperlyConfigured): Redis failing is "
        "always answered as a miss / not stored, never raised to the caller"
    ),
    "test_cache_options.py::test_custom_key_function": (
        "raw key layout: KEY_FUNCTION gets our prefix, which carries the value-schema version "
        "(ha:s1#1#foo-bb where the test expects #1#foo-bb), so a deploy that changes a value's "
        "shape never reads old shapes"
    ),
}
# README groups these as deviations by cause: IGNORE_EXCEPTIONS semantics (the first two), raw key layout.

_PIN_LIST = re.compile(r"settings = \[\n(?:\s+\"sqlite[a-z0-9_]*\",\n)+\s+\]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.conformance.compat", description=__doc__.split("\n")[0])
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k ttl)")
    args = parser.parse_args(argv)

    suite = fetch_suite(django_redis.__version__)
    binary = system_redis_server()
    if not binary:
        print("compat: redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="compat-") as tmp:
        server = RedisServer(free_port(), Path(tmp), binary=binary, logfile=Path(tmp) / "redis.log")
        try:
            server.start()
        except ServerError as error:
            raise SystemExit(f"compat: {error}")
        try:
            results = run_suite(suite, server.url, f"redis://127.0.0.1:{free_port()}/0",
                                Path(tmp) / "junit.xml", args.pytest_args)
        finally:
            server.stop()
    return report(results, selected=bool(args.pytest_args))


def fetch_suite(version: str) -> Path:
    """The sdist's root (holding tests/), downloaded once; tests/ prepared for our settings variant."""
    root = sdist.cache_dir("compat", "COMPAT_CACHE_DIR") / f"django-redis-{version}"
    if not (root / "tests" / "conftest.py").is_file():
        print(f"compat: downloading the django-redis {version} sdist for its tests into {root}", flush=True)
        sdist.extract("django-redis", version, root, keep=lambda name: "/tests/" in name)
    # The suite parametrizes every cache test over its settings modules: ours is the one variant.
    conftest = root / "tests" / "conftest.py"
    text = conftest.read_text()
    if f'settings = ["{VARIANT}"]' not in text:
        text, replaced = _PIN_LIST.subn(f'settings = ["{VARIANT}"]', text)
        if replaced != 1:
            raise SystemExit(f"compat: {conftest} no longer lists its settings variants as expected")
        conftest.write_text(text)
    (root / "tests" / "settings" / f"{VARIANT}.py").write_text("from tools.conformance.compat.settings import *  # noqa\n")
    (root / "pytest.ini").write_text("[pytest]\npythonpath = tests\ntestpaths = tests\nxfail_strict = true\n")
    return root


def run_suite(root: Path, redis_url: str, unreachable_url: str, junit: Path, extra: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        REDIS_URL=redis_url, COMPAT_UNREACHABLE_URL=unreachable_url, ENABLE_CACHE="true",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.setdefault("DJANGO_SECRET_KEY", "compat-run-secret-key-not-for-production")
    env.setdefault("TELEGRAM_WEBHOOK_SECRET", "compat-run")
    print(f"\n=== django-redis {django_redis.__version__} test suite against caching.backend.cache.RedisCache, "
          f"Redis at {redis_url} ===", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(root / "pytest.ini"), "--rootdir", str(root),
         "-p", "no:django", "-p", "no:cacheprovider", "-q", "-rfE", f"--junitxml={junit}", *extra],
        cwd=root, env=env,
    )
    outcomes: dict[str, list[str]] = {"passed": [], "failed": [], "skipped": []}
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes["failed"].append(name)
        elif case.find("skipped") is not None:
            outcomes["skipped"].append(name)
        else:
            outcomes["passed"].append(name)
    return outcomes


def _test_id(junit_name: str) -> str:
    # "tests.test_backend.TestDjangoRedisCache::test_ttl[healthagent]" -> "test_backend.py::test_ttl"
    # A collection error has no class: "::tests.test_backend" -> "test_backend.py".
    classname, _, name = junit_name.partition("::")
    modules = [part for part in f"{classname}.{name}".split(".") if part.startswith("test_")]
    if not classname or not modules:
        return f"{modules[-1] if modules else name}.py"
    return f"{modules[0]}.py::{name.split('[')[0]}"


def report(results: dict, *, selected: bool) -> int:
    failed = sorted({_test_id(name) for name in results["failed"]})
    unexpected = [name for name in failed if name not in DEVIATIONS]
    still_passing = [] if selected else [name for name in DEVIATIONS if name not in failed]
    total = sum(len(names) for names in results.values())
    print(f"\ndjango-redis {django_redis.__version__} suite on our backend: {len(results['passed'])} passed, "
          f"{len(results['failed'])} failed, {len(results['skipped'])} skipped of {total}")
    print(f"intended deviations ({len(DEVIATIONS)}):")
    for name, reason in DEVIATIONS.items():
        print(f"  {'FAILS ' if name in failed else 'passes'}  {name}\n          {reason}")
    for name in unexpected:
        print(f"  UNEXPECTED FAILURE  {name}")
    for name in still_passing:
        print(f"  NOW PASSES  {name} (remove it from DEVIATIONS in tools/conformance/compat/run.py and README)")
    ok = not unexpected and not still_passing and total > 0
    print("compat: %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1
