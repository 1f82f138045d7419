"""A byte range of an open file, sent to the socket with sendfile instead of being read into memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileSlice:
    """``length`` bytes of the file open as ``fd`` starting at ``position``.

    The owner of ``fd`` (a log segment) keeps it open while slices may still be in flight;
    the server sends the range with ``os.sendfile`` after writing the bytes that precede it.
    """

    fd: int
    position: int
    length: int

    def __len__(self) -> int:
        return self.length

    def read(self) -> bytes:
        """The slice's bytes, for tests and for the rare path that must look inside (not the fetch path)."""
        import os

        return os.pread(self.fd, self.length, self.position)
