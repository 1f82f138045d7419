"""Kafka's checkpoint file format, read and replaced atomically.

A checkpoint is text: a version line, a count line, then ``count`` lines of space-separated
fields (``leader-epoch-checkpoint``: ``epoch startOffset``; ``log-start-offset-checkpoint``:
``topic partition offset``). Writes go to ``<name>.tmp``, are fsynced, then renamed over the old
file and the directory fsynced, so a crash leaves either the old or the new checkpoint, never half.
A write that fails (a full disk) removes its temporary file and raises :class:`OSError`; the old
checkpoint is untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class CheckpointError(ValueError):
    """A checkpoint file that does not follow the format (wrong version, count or line)."""


def read_checkpoint(path: Path, *, version: int = 0, fields: int) -> list[list[str]] | None:
    """The entries of the checkpoint at ``path`` (each a list of ``fields`` strings), None if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    if len(lines) < 2 or lines[0].strip() != str(version):
        raise CheckpointError(f"{path}: expected version {version}")
    try:
        count = int(lines[1])
    except ValueError:
        raise CheckpointError(f"{path}: bad entry count {lines[1]!r}") from None
    entries = [line.split() for line in lines[2:] if line.strip()]
    if count != len(entries) or any(len(entry) != fields for entry in entries):
        raise CheckpointError(f"{path}: expected {count} entries of {fields} fields")
    return entries


def write_checkpoint(path: Path, entries: Iterable[Iterable[object]], *, version: int = 0) -> None:
    """Replace the checkpoint at ``path`` with ``entries`` (fields joined by a space), durably."""
    lines = [" ".join(str(field) for field in entry) for entry in entries]
    text = f"{version}\n{len(lines)}\n" + "".join(line + "\n" for line in lines)
    replace_file(path, text.encode("utf-8"))


def replace_file(path: Path, content: bytes) -> None:
    """Replace the file at ``path`` with ``content``, durably: written whole to ``<name>.tmp``, fsynced,
    renamed over ``path``, the directory fsynced. Raises OSError (a full disk) with the old file intact and
    no temporary left behind."""
    data = memoryview(content)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:  # the old file stays, and no half-written temporary is left
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make renames and creations inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
