"""`python -m tools.conformance.contract` (`make contract`): fetch Django's cache tests, run them per Redis.

Targets: the embedded Redis always; the real one too when REDIS_URL is set (its database is
flushed by the suite, as by `make test`: point it at a database of its own). Exit status 0 only if
every target passes every test but the three culling ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import django

from tools.conformance import sdist
from caching.servers.url import redact_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.conformance.contract", description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=("all", "embedded", "real"), default="all")
    args = parser.parse_args(argv)

    real = {name: os.environ[name].strip() for name in _REAL_REDIS if os.environ.get(name, "").strip()}
    targets = []
    if args.target in ("all", "embedded"):
        targets.append(("embedded", {}))
    if args.target in ("all", "real"):
        if real:
            targets.append(("real", real))
        elif args.target == "real":
            parser.error("--target real needs REDIS_URL (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS)")
        else:
            print("contract: REDIS_URL is not set: running on the embedded Redis only")

    tests_dir = fetch_django_tests(django.get_version())
    results = [run_target(label, url, tests_dir) for label, url in targets]

    print("\nDjango %s cache contract (BaseCacheTests) against CACHES['default']:" % django.get_version())
    ok = True
    for r in results:
        if r is None:
            ok = False
            continue
        line = (f"  {r['label']:<9} {r['location']}: {r['passed']} passed, {len(r['failed'])} failed, "
                f"{len(r['skipped'])} skipped of {r['total']}")
        print(line)
        for name in r["failed"]:
            print(f"    FAILED  {name}")
        for name in r["unexpected_skips"]:
            print(f"    SKIPPED {name} (only the culling tests may skip)")
        ok = ok and not r["failed"] and not r["unexpected_skips"]
    print("  skipped by design: culling (test_cull, test_zero_cull, test_cull_delete_when_store_empty): "
          "Redis evicts by itself")
    print("contract: %s" % ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


# What points the service at a Redis of the operator's: one server, a Cluster or a Sentinel set.
_REAL_REDIS = ("REDIS_URL", "REDIS_CLUSTER_NODES", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD")


def run_target(label: str, redis_env: dict[str, str], tests_dir: Path) -> dict | None:
    env = {name: value for name, value in os.environ.items() if name not in _REAL_REDIS}
    env.pop("DATABASE_URL", None)
    env.update(redis_env)
    env["ENABLE_CACHE"] = "true"
    env.setdefault("DJANGO_SECRET_KEY", "contract-run-secret-key-not-for-production")
    env.setdefault("TELEGRAM_WEBHOOK_SECRET", "contract-run")
    where = ("the embedded Redis" if not redis_env else redact_url(redis_env["REDIS_URL"]) if "REDIS_URL" in redis_env
             else ", ".join(f"{name}={redact_url(value)}" for name, value in redis_env.items() if "PASSWORD" not in name))
    print(f"\n=== contract on {label}: {where} ===", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as result_file:
        completed = subprocess.run(
            [sys.executable, "-m", "tools.conformance.contract.suite", str(tests_dir), label, result_file.name],
            env=env,
            cwd=Path(__file__).resolve().parents[3],
        )
        try:
            return json.loads(Path(result_file.name).read_text())
        except ValueError:
            print(f"contract: the {label} run crashed (exit status {completed.returncode})", file=sys.stderr)
            return None


def fetch_django_tests(version: str) -> Path:
    """Django's tests/ directory holding cache/, from the sdist of `version`, downloaded once."""
    tests_dir = sdist.cache_dir("contract", "CONTRACT_CACHE_DIR") / f"django-{version}" / "tests"
    if (tests_dir / "cache" / "tests.py").is_file() and (tests_dir / "runtests.py").is_file():
        return tests_dir
    print(f"contract: downloading the Django {version} sdist for its cache tests into {tests_dir.parent}", flush=True)
    # The cache tests, and runtests.py for the warning filters Django runs them under.
    sdist.extract("django", version, tests_dir.parent,
                  keep=lambda name: "/tests/cache/" in name or name.endswith("/tests/runtests.py"))
    return tests_dir
