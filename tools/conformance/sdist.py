"""Part of a package's source distribution from PyPI, for the suites we run against our backend
(`make contract`: Django's cache tests; `make compat`: django-redis's tests). Downloaded with pip into
a cache directory outside the repository, never committed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir(name: str, override: str) -> Path:
    """Where `name`'s downloads are kept: $<override>, else $XDG_CACHE_HOME (~/.cache)/healthagent/<name>."""
    if os.environ.get(override):
        return Path(os.environ[override])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "healthagent" / name


def extract(package: str, version: str, into: Path, keep: Callable[[str], bool]) -> Path:
    """Downloads `package==version`'s sdist and puts its top directory, holding only the files whose
    archive name `keep` accepts, at `into` (replacing what was there). Returns `into`."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", f"{package}=={version}", "--dest", tmp],
            check=True,
        )
        (sdist,) = Path(tmp).glob("*.tar.gz")
        staging = Path(tmp) / "extracted"
        with tarfile.open(sdist) as tar:
            tar.extractall(staging, members=[m for m in tar.getmembers() if m.isfile() and keep(m.name)],
                           filter="data")
        (top,) = staging.iterdir()
        shutil.rmtree(into, ignore_errors=True)
        into.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(top), into)
    return into
