"""Sections of BENCHMARKS.md that a measurement of its own writes (bench/compression.py,
bench/claim.py) between two marker comments, and that `make bench` keeps when it rewrites the file."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
_BEFORE = "## Machine, versions, command"


def write(section: str, begin: str, end: str, path: Path = BENCHMARKS) -> None:
    """Replace the section between `begin` and `end`, or add it before the machine section."""
    text = path.read_text()
    if begin in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) + 1:]
    else:
        text = text.replace(_BEFORE, section + "\n" + _BEFORE) if _BEFORE in text else text + "\n" + section
    path.write_text(text)


def read(begin: str, end: str, path: Path = BENCHMARKS) -> str | None:
    """The section as the file holds it now, markers included, or None."""
    text = path.read_text() if path.exists() else ""
    return text[text.index(begin): text.index(end) + len(end)] + "\n" if begin in text else None
