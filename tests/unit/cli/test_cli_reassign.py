"""`kopfka reassign`: plan parsing, Kafka's outputs, and the --bootstrap-server flow (execute, verify,
cancel) against a fake cluster that answers Metadata and the KIP-455 requests as a controller would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kafka_broker.cli import reassign
from kafka_broker.cli.main import build_parser
from kafka_broker.protocol import ApiKey, ErrorCode


class FakeCluster(reassign.Cluster):
    """Replicas per partition, reassignments in progress; the first request to the controller may be refused."""

    def __init__(self, replicas: dict[tuple[str, int], list[int]], *, refuse_first: bool = False) -> None:
        super().__init__("127.0.0.1:1", 1.0)
        self.replicas = replicas
        self.ongoing: dict[tuple[str, int], list[int]] = {}
        self.refuse = refuse_first
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.configs: dict[tuple[int, str], dict[str, str]] = {}

    async def metadata(self, topics: Any) -> dict[str, Any]:
        self.brokers = {1: ("h", 1), 2: ("h", 2), 3: ("h", 3)}
        self.controller_id = 1
        wanted = set(topics or ())
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for (t, p), r in sorted(self.replicas.items()):
            if t in wanted:
                by_topic.setdefault(t, []).append({"partition_index": p, "replica_nodes": r})
        return {"topics": [{"name": t, "partitions": ps} for t, ps in by_topic.items()]}

    async def to_controller(self, api_key: int, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((api_key, body))
        if api_key == ApiKey.INCREMENTAL_ALTER_CONFIGS:
            for resource in body["resources"]:
                configs = self.configs.setdefault((resource["resource_type"], resource["resource_name"]), {})
                for op in resource["configs"]:
                    if op["config_operation"] == 0:
                        configs[op["name"]] = op["value"]
                    else:
                        configs.pop(op["name"], None)
            return {"throttle_time_ms": 0, "responses": [
                {"error_code": 0, "error_message": None, "resource_type": r["resource_type"],
                 "resource_name": r["resource_name"]} for r in body["resources"]]}
        if api_key == ApiKey.LIST_PARTITION_REASSIGNMENTS:
            asked = body["topics"]
            keys = set(self.ongoing) if asked is None else {
                (t["name"], p) for t in asked for p in t["partition_indexes"]} & set(self.ongoing)
            return {"error_code": 0, "error_message": None, "topics": [
                {"name": t, "partitions": [{"partition_index": p, "replicas": self.ongoing[(t, p)],
                                            "adding_replicas": [], "removing_replicas": []}]}
                for t, p in sorted(keys)]}
        results = []
        for topic in body["topics"]:
            parts = []
            for part in topic["partitions"]:
                key = (topic["name"], part["partition_index"])
                code = ErrorCode.NONE
                if key not in self.replicas:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif part["replicas"] is None:
                    self.ongoing.pop(key)
                else:
                    self.ongoing[key] = part["replicas"]
                parts.append({"partition_index": key[1], "error_code": code,
                              "error_message": None if code == ErrorCode.NONE else "The partition does not exist."})
            results.append({"name": topic["name"], "partitions": parts})
        return {"error_code": 0, "error_message": None, "responses": results}


def plan_file(tmp_path: Path, moves: dict[tuple[str, int], list[int]]) -> str:
    path = tmp_path / f"plan-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": r, "log_dirs": ["any"] * len(r)} for (t, p), r in moves.items()]}))
    return str(path)


def test_options_need_a_cluster_and_one_action() -> None:
    parser = build_parser()
    args = parser.parse_args(["reassign", "--bootstrap-server", "h:9092", "--cancel", "p.json"])
    assert (args.bootstrap_server, args.cancel, args.zookeeper) == ("h:9092", "p.json", None)
    for bad in (["reassign", "--execute", "p"], ["reassign", "--bootstrap-server", "h:1", "--zookeeper", "z:2",
                                                  "--verify", "p"], ["reassign", "--bootstrap-server", "h:1"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_plans_are_read_as_kafka_writes_them(tmp_path: Path) -> None:
    assert reassign.load_plan(plan_file(tmp_path, {("t", 1): [2, 3], ("a", 0): [1]})) == {("t", 1): [2, 3],
                                                                                          ("a", 0): [1]}
    with pytest.raises(SystemExit, match="distinct"):
        reassign.load_plan(plan_file(tmp_path, {("t", 0): [2, 2]}))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SystemExit, match="not a reassignment plan"):
        reassign.load_plan(str(tmp_path / "bad.json"))


def test_plans_print_as_kafka_prints_them() -> None:
    assert reassign.format_plan({("t", 1): [2, 3], ("a", 0): [1]}) == (
        '{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["any"]},'
        '{"topic":"t","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}')


def test_verify_lines() -> None:
    plan = {("t", 0): [2, 3], ("t", 1): [1, 2], ("t", 2): [3, 1]}
    lines, ok = reassign.verify_lines(plan, {("t", 0): [2, 3, 1], ("t", 1): [1, 2], ("t", 2): [1, 3]}, [("t", 0)])
    assert lines == ["Status of partition reassignment:",
                     "Reassignment of partition t-0 is still in progress.",
                     "Reassignment of partition t-1 is completed.",
                     "There is no active reassignment of partition t-2, but replica set is 1,3 rather than 3,1."]
    assert not ok


def run(cluster: FakeCluster, action: str, path: str, *, additional: bool = False, throttle: int = -1) -> int:
    """`kopfka reassign --bootstrap-server … --<action> path` on ``cluster``."""
    plan = reassign.load_plan(path)
    if action == "execute":
        return asyncio.run(reassign.execute(cluster, plan, additional=additional, throttle=throttle))
    if action == "cancel":
        return asyncio.run(reassign.cancel(cluster, plan))
    return asyncio.run(reassign.verify(cluster, plan))


def test_execute_verify_cancel_over_the_kafka_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster({("t", 0): [1, 2], ("t", 1): [2, 3]})
    path = plan_file(tmp_path, {("t", 0): [2, 3]})
    assert run(cluster, "execute", path) == 0
    out = capsys.readouterr().out
    assert out == ("Current partition replica assignment\n\n"
                   '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}'
                   "\n\nSave this to use as the --reassignment-json-file option during rollback\n"
                   "Successfully started partition reassignment for t-0\n")
    assert cluster.ongoing == {("t", 0): [2, 3]}

    with pytest.raises(reassign.CommandError, match="existing partition assignment"):
        run(cluster, "execute", plan_file(tmp_path, {("t", 1): [3, 1]}))
    assert run(cluster, "execute", plan_file(tmp_path, {("t", 1): [3, 1]}), additional=True) == 0
    capsys.readouterr()

    assert run(cluster, "verify", path) == 0
    assert "Reassignment of partition t-0 is still in progress." in capsys.readouterr().out
    assert run(cluster, "cancel", path) == 0
    clearing = "Clearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic t\n"
    assert capsys.readouterr().out == "Successfully cancelled partition reassignment for: t-0\n" + clearing
    assert cluster.ongoing == {("t", 1): [3, 1]}
    assert run(cluster, "cancel", path) == 0
    assert capsys.readouterr().out == "None of the specified partition reassignments are active.\n" + clearing
    assert run(cluster, "verify", path) == 1  # cancelled: the replicas are not the plan's
    assert "but replica set is 1,2 rather than 2,3." in capsys.readouterr().out


def test_execute_refuses_unknown_partitions_and_brokers(tmp_path: Path) -> None:
    cluster = FakeCluster({("t", 0): [1, 2]})
    with pytest.raises(reassign.CommandError, match="Unable to find partition"):
        run(cluster, "execute", plan_file(tmp_path, {("t", 4): [1]}))
    with pytest.raises(reassign.CommandError, match="Unknown broker id 9"):
        run(cluster, "execute", plan_file(tmp_path, {("t", 0): [1, 9]}))
    assert cluster.ongoing == {}


def test_requests_are_retried_on_the_new_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    class Moving(FakeCluster):
        calls = 0

        async def metadata(self, topics: Any) -> dict[str, Any]:
            response = await super().metadata(topics)
            self.calls += 1
            self.controller_id = 1 if self.calls == 1 else 2
            return response

    cluster = Moving({})
    answers = iter([{"error_code": ErrorCode.NOT_CONTROLLER}, {"error_code": 0, "responses": []}])

    class Connection:
        async def request(self, api_key: int, version: int, body: dict[str, Any], timeout: float) -> dict[str, Any]:
            return next(answers)

        def close(self) -> None:
            pass

    monkeypatch.setattr(cluster, "_connection", lambda address: Connection())
    monkeypatch.setattr(reassign.asyncio, "sleep", _no_sleep)
    response = asyncio.run(reassign.Cluster.to_controller(cluster, ApiKey.ALTER_PARTITION_REASSIGNMENTS, {}))
    assert response == {"error_code": 0, "responses": []} and cluster.controller_id == 2


async def _no_sleep(_delay: float) -> None:
    return None


def test_throttle_is_set_as_kafkas_tool_sets_it_and_cleared_by_verify(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster({("t", 0): [1, 2], ("t", 1): [2, 3], ("u", 0): [1]})
    path = plan_file(tmp_path, {("t", 0): [2, 3], ("t", 1): [2, 3], ("u", 0): [1]})
    assert run(cluster, "execute", path, throttle=1048576) == 0
    out = capsys.readouterr().out
    assert "The inter-broker throttle limit was set to 1048576 B/s\n" in out
    rates = {"leader.replication.throttled.rate": "1048576", "follower.replication.throttled.rate": "1048576"}
    # the brokers of the moving partition (t-0: 1, 2 and 3), the topic that moves (u-0 stays where it is)
    assert cluster.configs == {
        (4, "1"): rates, (4, "2"): rates, (4, "3"): rates,
        (2, "t"): {"leader.replication.throttled.replicas": "0:1,0:2",
                   "follower.replication.throttled.replicas": "0:3"},
    }
    assert run(cluster, "verify", path) == 0  # still in progress: the throttles stay
    assert "Clearing" not in capsys.readouterr().out and cluster.configs[(4, "1")] == rates
    cluster.replicas.update(cluster.ongoing)
    cluster.ongoing.clear()
    assert run(cluster, "verify", path) == 0
    assert capsys.readouterr().out.endswith(
        "Clearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topics t,u\n")
    assert all(configs == {} for configs in cluster.configs.values())


def test_throttle_needs_execute_over_the_kafka_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = plan_file(tmp_path, {("t", 0): [2, 3]})
    args = build_parser().parse_args(["reassign", "--zookeeper", "zk:2181", "--execute", path, "--throttle", "10"])
    assert reassign.run(args) == 1
    assert "--throttle needs --execute and --bootstrap-server" in capsys.readouterr().err
