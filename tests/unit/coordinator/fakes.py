"""In-memory stand-ins for the coordinators' boundaries, shared by their tests and the handler harness.

:class:`FakeZk` is the part of ``KazooClient`` the producer id manager uses (``get``, ``create``,
``set``), with znode versions so conditional writes can lose; ``racer`` runs just before our next
write, as another broker writing in between would.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError


class FakeZk:
    """The three kazoo calls the manager uses, with znode versions; ``racer`` writes before our write."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[bytes, int]] = {}
        self.racer: Callable[[FakeZk], object] | None = None

    def get(self, path: str) -> tuple[bytes, SimpleNamespace]:
        if path not in self.nodes:
            raise NoNodeError(path)
        data, version = self.nodes[path]
        return data, SimpleNamespace(version=version)

    def _race(self) -> None:
        if self.racer is not None:
            racer, self.racer = self.racer, None
            racer(self)

    def create(self, path: str, data: bytes, makepath: bool = False) -> None:
        self._race()
        if path in self.nodes:
            raise NodeExistsError(path)
        self.nodes[path] = (data, 0)

    def set(self, path: str, data: bytes, version: int = -1) -> None:
        self._race()
        if path not in self.nodes:
            raise NoNodeError(path)
        if version != -1 and self.nodes[path][1] != version:
            raise BadVersionError(path)
        self.nodes[path] = (data, self.nodes[path][1] + 1)
