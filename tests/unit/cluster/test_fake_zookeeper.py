"""The fake ensemble behaves as ZooKeeper does where kopfka depends on it: versions and conditional
writes, ephemeral nodes of a session, sequential names, and the one-shot watches that kazoo's own
DataWatch / ChildrenWatch recipes turn into callbacks."""

from __future__ import annotations

import pytest
from kazoo.exceptions import BadVersionError, ConnectionLoss, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from .fakes import FakeZooKeeper


def test_versions_and_conditional_writes() -> None:
    zk = FakeZooKeeper().client()
    zk.create("/a/b", b"1", makepath=True)
    data, stat = zk.get("/a/b")
    assert (data, stat.version) == (b"1", 0)
    assert zk.set("/a/b", b"2", version=0).version == 1
    with pytest.raises(BadVersionError):
        zk.set("/a/b", b"3", version=0)  # a writer that read version 0 lost the race
    assert zk.get("/a/b")[0] == b"2"
    with pytest.raises(NodeExistsError):
        zk.create("/a/b", b"x")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child", b"")
    with pytest.raises(NotEmptyError):
        zk.delete("/a")
    with pytest.raises(BadVersionError):
        zk.delete("/a/b", version=0)
    zk.delete("/a", recursive=True)
    assert zk.exists("/a") is None


def test_ephemeral_nodes_go_with_their_session_and_sequential_names_count_up() -> None:
    server = FakeZooKeeper()
    one, two = server.client(), server.client()
    one.create("/e", b"", ephemeral=True)
    assert one.get("/e")[1].ephemeralOwner == one.client_id[0] != two.client_id[0]
    assert one.create("/q/n_", b"", sequence=True, makepath=True) == "/q/n_0000000000"
    assert two.create("/q/n_", b"", sequence=True) == "/q/n_0000000001"
    server.expire(one)
    assert two.exists("/e") is None
    assert one.client_id is None


def test_kazoo_recipes_see_every_change_in_order() -> None:
    server = FakeZooKeeper()
    zk = server.client()
    zk.ensure_path("/kids")
    seen_data: list[tuple[bytes | None, int | None]] = []
    seen_children: list[list[str]] = []
    DataWatch(zk, "/node", lambda data, stat: seen_data.append((data, stat.version if stat else None)))
    ChildrenWatch(zk, "/kids", lambda children: seen_children.append(sorted(children)))
    zk.create("/node", b"a")
    zk.set("/node", b"b")
    zk.delete("/node")
    zk.create("/kids/x", b"")
    zk.create("/kids/y", b"")
    zk.delete("/kids/x")
    assert seen_data == [(None, None), (b"a", 0), (b"b", 1), (None, None)]
    assert seen_children == [[], ["x"], ["x", "y"], ["y"]]


def test_held_watches_read_the_state_at_delivery() -> None:
    """A watch firing late reads what is there then: changes in between are coalesced, as in ZooKeeper."""
    server = FakeZooKeeper()
    zk = server.client()
    zk.create("/node", b"a")
    seen: list[bytes | None] = []
    DataWatch(zk, "/node", lambda data, stat: seen.append(data))
    with server.watches_held():
        zk.set("/node", b"b")
        zk.set("/node", b"c")
        assert seen == [b"a"]
    assert seen == [b"a", b"c"]


def test_writes_are_recorded_and_failures_injected() -> None:
    server = FakeZooKeeper()
    zk = server.client()
    zk.create("/x", b"")
    zk.set("/x", b"1")
    server.fail_next("set", ConnectionLoss(), path="/x")
    with pytest.raises(ConnectionLoss):
        zk.set("/x", b"2")
    zk.set("/x", b"3")
    assert server.written() == ["/x", "/x", "/x"]
    assert server.written("set") == ["/x", "/x"]
    assert server.data("/x") == b"3"
