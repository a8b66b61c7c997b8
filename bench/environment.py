"""The machine, the versions and the command behind a run — printed beside every table — and wrk."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .servers import ROOT, BenchError

_PACKAGES = ("Django", "django-redis", "redis", "hiredis", "psycopg", "gunicorn", "orjson", "matplotlib")


def ensure_wrk(log) -> None:
    """wrk is a Debian/Ubuntu package; install it when missing and we may (root, apt-get)."""
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)")
    log("==> installing wrk (Debian package)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        if subprocess.run(install, env=env).returncode:
            raise BenchError("could not install wrk with apt-get; install it and run again")


def command(*, quick: bool, argv: list[str]) -> str:
    make = "make bench-quick" if quick else "make bench"
    return f"{make} (= .venv/bin/python -m bench {' '.join(argv)})".replace(" )", ")")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0)
    return {
        "cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "os": _os_name(), "load_before": load_average(),
    }


def _os_name() -> str:
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def versions(redis_client, db) -> dict:
    from .loadgen import wrk_version

    found = {"python": sys.version.split()[0], "wrk": wrk_version(),
             "redis_server": redis_client.info("server").get("redis_version"), "postgresql": db.version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["git"] = _git()
    return found


def _git() -> str | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + (" + uncommitted changes" if dirty else "")
