"""Sections of BENCHMARKS.md that a measurement of its own writes (bench/compression.py,
bench/claim.py) between two marker comments, and that `make bench` keeps when it rewrites the file."""

from __future__ import annotations

from collections.abc import Iterable
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


class Section:
    """One such section: its markers, written and read as a whole."""

    def __init__(self, begin: str, end: str) -> None:
        self.begin, self.end = begin, end

    def write(self, section: str, path: Path = BENCHMARKS) -> None:
        write(section, self.begin, self.end, path)

    def read(self, path: Path = BENCHMARKS) -> str | None:
        return read(self.begin, self.end, path)


def rewrite(path: Path, text: str, kept: Iterable[Section]) -> None:
    """Replace the file with `text`, keeping the sections in `kept` that it held."""
    saved = [(section, section.read(path)) for section in kept]
    path.write_text(text)
    for section, measured in saved:
        if measured:
            section.write(measured, path)
