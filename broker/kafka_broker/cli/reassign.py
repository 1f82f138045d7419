"""`kopfka reassign (--bootstrap-server B | --zookeeper ZK) --execute PLAN | --verify PLAN | --cancel PLAN`:
move partition replicas the way Kafka's `kafka-reassign-partitions.sh` does.

The plan is Kafka's JSON (`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}`,
`log_dirs` accepted and ignored). `--execute` prints the current assignment (keep it to roll back) and
starts the reassignment; the controller adds the new replicas, waits until they are in sync, moves
leadership if needed and only then drops the old ones. `--verify` reports each partition as completed,
still in progress, or done with other replicas than the plan's (exit 1). `--cancel` stops the plan's
reassignments in progress: each partition goes back to its original replicas and the added ones are dropped.

With `--bootstrap-server` the tool speaks the Kafka protocol as Kafka 3.x's does (KIP-455:
AlterPartitionReassignments and ListPartitionReassignments, sent to the controller found with
Metadata); outputs are Kafka's. With `--zookeeper` it works as Kafka's ZooKeeper-era tool did, writing
the plan to `/admin/reassign_partitions` (no `--cancel` there: ZooKeeper-era Kafka had none).

`--throttle B` (with `--execute`) sets what `kafka-reassign-partitions.sh --throttle` sets, with
IncrementalAlterConfigs: `leader.replication.throttled.rate` and `follower.replication.throttled.rate` = B on
every broker holding or receiving a moving partition, and on each topic `leader.replication.throttled.replicas`
(the current replicas of its moving partitions) and `follower.replication.throttled.replicas` (the replicas
being added). `--verify`, once none of the plan's partitions is in progress, and `--cancel` remove them from
every broker and from the plan's topics, unless `--preserve-throttles`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from kafka_broker import metadata as md
from kafka_broker.cli.client_properties import ClientSecurity, read_client_properties
from kafka_broker.cluster.broker_connection import BrokerConnection
from kafka_broker.protocol import ApiKey, ErrorCode

HELP = "reassign partition replicas from a JSON plan (execute, verify or cancel)"

Plan = dict[tuple[str, int], list[int]]

CLIENT_ID = "kopfka-reassign"
METADATA_VERSION = 1
"""Metadata v1: the first with the controller id (and null for "every topic")."""
NOT_CONTROLLER_RETRIES = 5
EXISTING = ("Cannot execute because there is an existing partition assignment.  Use --additional to override "
            "this and create a new partition assignment in addition to the existing one. The --additional flag "
            "can also be used to change the throttle by resubmitting the current reassignment.")


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bootstrap-server", metavar="HOST:PORT[,HOST:PORT]", help="brokers to connect to")
    where.add_argument("--zookeeper", help="host:port[/chroot] of the cluster's ZooKeeper (ZooKeeper-era tool)")
    parser.add_argument("--command-config", metavar="FILE",
                        help="Kafka client properties (security.protocol, sasl.*, ssl.*: PEM stores)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--execute", metavar="PLAN", help="start the reassignment in the plan file")
    action.add_argument("--verify", metavar="PLAN", help="report whether the plan's reassignment is done")
    action.add_argument("--cancel", metavar="PLAN", help="cancel the plan's reassignments in progress")
    parser.add_argument("--additional", action="store_true",
                        help="execute even though other reassignments are in progress")
    parser.add_argument("--throttle", type=int, default=-1, metavar="BYTES_PER_SECOND",
                        help="with --execute (and --bootstrap-server): limit the replication the reassignment "
                             "causes to this many bytes/s on each broker involved; --verify removes the throttle "
                             "once every partition is done")
    parser.add_argument("--preserve-throttles", action="store_true",
                        help="--verify and --cancel leave the throttles in place")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for each answer (default 30)")


def load_plan(path: str) -> Plan:
    try:
        plan = md.decode_reassignment(Path(path).read_bytes())
    except OSError as exc:
        raise SystemExit(f"kopfka reassign: cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"kopfka reassign: {path} is not a reassignment plan: {exc}") from None
    if not plan:
        raise SystemExit(f"kopfka reassign: {path} names no partitions")
    for (topic, partition), replicas in plan.items():
        if not replicas or len(set(replicas)) != len(replicas):
            raise SystemExit(f"kopfka reassign: {topic}-{partition}: replicas must be distinct and non-empty")
    return plan


def format_plan(assignment: Mapping[tuple[str, int], list[int]]) -> str:
    """A plan as Kafka's tool prints it (one line, sorted, ``log_dirs`` "any")."""
    return json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": list(r), "log_dirs": ["any"] * len(r)}
        for (t, p), r in sorted(assignment.items())
    ]}, separators=(",", ":"))


def names(keys: Iterable[tuple[str, int]]) -> str:
    return ",".join(f"{t}-{p}" for t, p in sorted(keys))


def print_current(current: Plan) -> None:
    print(f"Current partition replica assignment\n\n{format_plan(current)}\n\n"
          "Save this to use as the --reassignment-json-file option during rollback")


def print_started(plan: Plan) -> None:
    print(f"Successfully started partition reassignment{'' if len(plan) == 1 else 's'} for {names(plan)}")


def verify_lines(plan: Plan, current: Plan, in_progress: Iterable[tuple[str, int]]) -> tuple[list[str], bool]:
    """Kafka's status lines for ``--verify``, and whether every partition has its planned replicas."""
    ongoing = set(in_progress)
    lines, ok = ["Status of partition reassignment:"], True
    for key in sorted(plan):
        name = f"{key[0]}-{key[1]}"
        if key in ongoing:
            lines.append(f"Reassignment of partition {name} is still in progress.")
        elif current.get(key) == plan[key]:
            lines.append(f"Reassignment of partition {name} is completed.")
        else:
            ok = False
            have = ",".join(map(str, current.get(key, [])))
            lines.append(f"There is no active reassignment of partition {name}, but replica set is {have} "
                         f"rather than {','.join(map(str, plan[key]))}.")
    return lines, ok


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.execute or args.verify or args.cancel)
    if args.throttle >= 0 and not (args.execute and args.bootstrap_server):
        print("kopfka reassign: --throttle needs --execute and --bootstrap-server", file=sys.stderr)
        return 1
    if args.bootstrap_server:
        try:
            return asyncio.run(run_bootstrap(args, plan))
        except CommandError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    if args.cancel:
        print("kopfka reassign: --cancel needs --bootstrap-server (ZooKeeper-era Kafka could not cancel)",
              file=sys.stderr)
        return 1
    return run_zookeeper(args, plan)


# --- the Kafka protocol (KIP-455) ----------------------------------------------------------------------


class CommandError(Exception):
    """A failure to report on stderr (exit 1)."""


class Cluster:
    """Connections to a cluster's brokers, found from the bootstrap servers with Metadata."""

    def __init__(self, bootstrap: str, timeout: float, *, security: ClientSecurity | None = None) -> None:
        self.bootstrap = [b.strip() for b in bootstrap.split(",") if b.strip()]
        self.timeout = timeout
        self.security = security or ClientSecurity({})
        self.brokers: dict[int, tuple[str, int]] = {}
        self.controller_id = -1
        self._connections: dict[tuple[str, int], BrokerConnection] = {}

    def _connection(self, address: tuple[str, int]) -> BrokerConnection:
        if address not in self._connections:
            self._connections[address] = BrokerConnection(*address, CLIENT_ID, connect_timeout=self.timeout,
                                                           tls=self.security.tls, sasl=self.security.sasl)
        return self._connections[address]

    async def metadata(self, topics: Iterable[str] | None) -> dict[str, Any]:
        """Metadata from the first bootstrap server (or known broker) that answers; remembers brokers and
        controller."""
        body = {"topics": None if topics is None else [{"name": t} for t in sorted(set(topics))]}
        addresses = [*self.brokers.values(), *map(_address, self.bootstrap)]
        errors = []
        for address in dict.fromkeys(addresses):
            try:
                response = await self._connection(address).request(ApiKey.METADATA, METADATA_VERSION, body,
                                                                    self.timeout)
            except (OSError, TimeoutError) as exc:
                errors.append(f"{address[0]}:{address[1]}: {exc or type(exc).__name__}")
                continue
            self.brokers = {b["node_id"]: (b["host"], b["port"]) for b in response["brokers"]}
            self.controller_id = response["controller_id"]
            return response
        raise CommandError(f"kopfka reassign: no broker answered ({'; '.join(errors)})")

    async def to_controller(self, api_key: int, body: dict[str, Any]) -> dict[str, Any]:
        """Send a request to the controller (found again while it answers NOT_CONTROLLER)."""
        for _ in range(NOT_CONTROLLER_RETRIES):
            if self.controller_id not in self.brokers:
                await self.metadata([])
            address = self.brokers.get(self.controller_id)
            if address is not None:
                response = await self._connection(address).request(api_key, 0, body, self.timeout)
                if not _not_controller(response):
                    return response
            self.controller_id = -1
            await asyncio.sleep(0.5)
        raise CommandError("kopfka reassign: could not reach the controller")

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"kopfka reassign: bad bootstrap server {text!r} (expected HOST:PORT)")
    return host.strip("[]"), int(port)


def _not_controller(response: dict[str, Any]) -> bool:
    if response.get("error_code") == ErrorCode.NOT_CONTROLLER:
        return True
    return any(p.get("error_code") == ErrorCode.NOT_CONTROLLER
               for t in response.get("responses", ()) for p in t["partitions"])


def _by_topic(keys: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for topic, partition in sorted(keys):
        grouped.setdefault(topic, []).append(partition)
    return grouped


async def current_replicas(cluster: Cluster, plan: Plan) -> Plan:
    """The plan's partitions' replicas now; an unknown topic or partition is an error, as in Kafka's tool."""
    response = await cluster.metadata({t for t, _ in plan})
    replicas: Plan = {}
    for topic in response["topics"]:
        for part in topic["partitions"]:
            replicas[(topic["name"], part["partition_index"])] = list(part["replica_nodes"])
    missing = [key for key in sorted(plan) if key not in replicas]
    if missing:
        raise CommandError(f"Error: Unable to find partition(s) {names(missing)}")
    return replicas


async def list_in_progress(cluster: Cluster, keys: Iterable[tuple[str, int]] | None) -> dict[tuple[str, int], Any]:
    topics = None if keys is None else [{"name": t, "partition_indexes": ps} for t, ps in _by_topic(keys).items()]
    response = await cluster.to_controller(ApiKey.LIST_PARTITION_REASSIGNMENTS,
                                           {"timeout_ms": int(cluster.timeout * 1000), "topics": topics})
    if response["error_code"] != ErrorCode.NONE:
        raise CommandError(f"Error listing reassignments: {ErrorCode(response['error_code']).name} "
                           f"{response['error_message'] or ''}".rstrip())
    return {(t["name"], p["partition_index"]): p for t in response["topics"] for p in t["partitions"]}


async def alter(cluster: Cluster, targets: Mapping[tuple[str, int], list[int] | None]) -> dict[tuple[str, int], str]:
    """AlterPartitionReassignments; the partitions that failed, with why."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for (topic, partition), replicas in sorted(targets.items()):
        grouped.setdefault(topic, []).append({"partition_index": partition, "replicas": replicas})
    response = await cluster.to_controller(ApiKey.ALTER_PARTITION_REASSIGNMENTS, {
        "timeout_ms": int(cluster.timeout * 1000),
        "topics": [{"name": t, "partitions": ps} for t, ps in grouped.items()]})
    if response["error_code"] != ErrorCode.NONE:
        why = f"{ErrorCode(response['error_code']).name}: {response['error_message'] or ''}".rstrip(": ")
        return dict.fromkeys(targets, why)
    return {(t["name"], p["partition_index"]): (p["error_message"] or ErrorCode(p["error_code"]).name)
            for t in response["responses"] for p in t["partitions"] if p["error_code"] != ErrorCode.NONE}


async def run_bootstrap(args: argparse.Namespace, plan: Plan) -> int:
    cluster = Cluster(args.bootstrap_server, args.timeout,
                      security=ClientSecurity(read_client_properties(args.command_config)))
    try:
        if args.execute:
            return await execute(cluster, plan, additional=args.additional, throttle=args.throttle)
        if args.verify:
            return await verify(cluster, plan, preserve_throttles=args.preserve_throttles)
        return await cancel(cluster, plan, preserve_throttles=args.preserve_throttles)
    finally:
        cluster.close()


async def verify(cluster: Cluster, plan: Plan, *, preserve_throttles: bool = False) -> int:
    current = await current_replicas(cluster, plan)
    in_progress = await list_in_progress(cluster, plan)
    lines, ok = verify_lines(plan, current, in_progress)
    print("\n".join(lines))
    if not in_progress and not preserve_throttles:  # as Kafka's tool: once the plan is done, no throttle stays
        await clear_throttles(cluster, plan)
    return 0 if ok else 1


async def execute(cluster: Cluster, plan: Plan, *, additional: bool, throttle: int = -1) -> int:
    if not additional and await list_in_progress(cluster, None):
        raise CommandError(EXISTING)
    current = await current_replicas(cluster, plan)
    unknown = sorted({b for replicas in plan.values() for b in replicas} - set(cluster.brokers))
    if unknown:
        raise CommandError(f"Unknown broker id {unknown[0]}")
    print_current({key: current[key] for key in plan})
    if throttle >= 0:
        await set_throttles(cluster, plan, current, throttle)
        print("Warning: You must run --verify periodically, until the reassignment completes, to ensure the "
              "throttle is removed.")
        print(f"The inter-broker throttle limit was set to {throttle} B/s")
    failed = await alter(cluster, plan)
    if failed:
        raise CommandError("Error reassigning partition(s):\n"
                           + "\n".join(f"{t}-{p}: {why}" for (t, p), why in sorted(failed.items())))
    print_started(plan)
    return 0


async def cancel(cluster: Cluster, plan: Plan, *, preserve_throttles: bool = False) -> int:
    active = sorted(await list_in_progress(cluster, plan))
    if active:
        failed = await alter(cluster, dict.fromkeys(active))
        if failed:
            raise CommandError(f"Error cancelling partition reassignment{'' if len(failed) == 1 else 's'} for:\n"
                               + "\n".join(f"{t}-{p}: {why}" for (t, p), why in sorted(failed.items())))
        print(f"Successfully cancelled partition reassignment{'' if len(active) == 1 else 's'} for: "
              f"{names(active)}")
    else:
        print("None of the specified partition reassignments are active.")
    if not preserve_throttles:
        await clear_throttles(cluster, plan)
    return 0


# --- replication throttles (KIP-73) ---------------------------------------------------------------------

THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
THROTTLED_REPLICAS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")
_TOPIC, _BROKER = 2, 4
_SET, _DELETE = 0, 1


def throttled_replicas(plan: Plan, current: Plan) -> dict[str, tuple[str, str]]:
    """Per topic of the plan, the values of ``leader.`` and ``follower.replication.throttled.replicas`` Kafka's
    tool sets: every current replica of a moving partition may send (leader side), the replicas being added
    fetch (follower side), as ``partition:broker`` lists."""
    by_topic: dict[str, tuple[list[str], list[str]]] = {}
    for (topic, partition), target in sorted(plan.items()):
        leaders, followers = by_topic.setdefault(topic, ([], []))
        existing = current[(topic, partition)]
        if existing == target:
            continue
        leaders.extend(f"{partition}:{broker}" for broker in existing)
        followers.extend(f"{partition}:{broker}" for broker in target if broker not in existing)
    return {topic: (",".join(leaders), ",".join(followers)) for topic, (leaders, followers) in by_topic.items()
            if leaders}


async def alter_configs(cluster: Cluster, resources: list[dict[str, Any]]) -> None:
    """IncrementalAlterConfigs of ``resources``; any resource's error is a CommandError."""
    response = await cluster.to_controller(ApiKey.INCREMENTAL_ALTER_CONFIGS,
                                           {"resources": resources, "validate_only": False})
    failed = [f"{r['resource_name']}: {r['error_message'] or ErrorCode(r['error_code']).name}"
              for r in response["responses"] if r["error_code"] != ErrorCode.NONE]
    if failed:
        raise CommandError("Error setting the replication throttles: " + "; ".join(failed))


async def set_throttles(cluster: Cluster, plan: Plan, current: Plan, throttle: int) -> None:
    """``--throttle``: the rate on every broker of the moving partitions (old and new replicas), and the
    topics' throttled replicas, as ``kafka-reassign-partitions.sh --throttle`` sets them."""
    replicas = throttled_replicas(plan, current)
    brokers = sorted({b for (t, p), target in plan.items() if t in replicas for b in (*target, *current[(t, p)])})
    await alter_configs(cluster, [
        *({"resource_type": _TOPIC, "resource_name": topic, "configs": [
            {"name": name, "config_operation": _SET, "value": value}
            for name, value in zip(THROTTLED_REPLICAS, values, strict=True) if value]}
          for topic, values in replicas.items()),
        *({"resource_type": _BROKER, "resource_name": str(broker), "configs": [
            {"name": name, "config_operation": _SET, "value": str(throttle)} for name in THROTTLE_RATES]}
          for broker in brokers),
    ])


async def clear_throttles(cluster: Cluster, plan: Plan) -> None:
    """Remove the reassignment throttles from every broker (and the plan's) and from the plan's topics, saying
    so as Kafka's ``clearAllThrottles`` does."""
    await cluster.metadata([])
    brokers = sorted({*cluster.brokers, *(b for target in plan.values() for b in target)})
    topics = sorted({t for t, _ in plan})
    print(f"Clearing broker-level throttles on broker{'' if len(brokers) == 1 else 's'} "
          + ",".join(map(str, brokers)))
    print(f"Clearing topic-level throttles on topic{'' if len(topics) == 1 else 's'} " + ",".join(topics))
    await alter_configs(cluster, [
        *({"resource_type": _BROKER, "resource_name": str(broker), "configs": [
            {"name": name, "config_operation": _DELETE, "value": None} for name in THROTTLE_RATES]}
          for broker in brokers),
        *({"resource_type": _TOPIC, "resource_name": topic, "configs": [
            {"name": name, "config_operation": _DELETE, "value": None} for name in THROTTLED_REPLICAS]}
          for topic in topics),
    ])


# --- ZooKeeper (Kafka's ZooKeeper-era tool) -------------------------------------------------------------


def zookeeper_assignment(zk: KazooClient, plan: Plan) -> Plan:
    current: Plan = {}
    for topic in sorted({t for t, _ in plan}):
        try:
            data, _ = zk.get(md.topic_path(topic))
        except NoNodeError:
            raise SystemExit(f"kopfka reassign: topic {topic} does not exist") from None
        assignment = md.TopicAssignment.decode(data)
        for (t, partition) in plan:
            if t != topic:
                continue
            if partition not in assignment.partitions:
                raise SystemExit(f"kopfka reassign: partition {topic}-{partition} does not exist")
            current[(topic, partition)] = assignment.partitions[partition]
    return current


def run_zookeeper(args: argparse.Namespace, plan: Plan) -> int:
    zk = KazooClient(hosts=args.zookeeper)
    zk.start(timeout=15)
    try:
        brokers = {int(b) for b in zk.get_children(md.BROKER_IDS_PATH)}
        current = zookeeper_assignment(zk, plan)
        if args.execute:
            unknown = sorted({b for replicas in plan.values() for b in replicas} - brokers)
            if unknown:
                print(f"kopfka reassign: brokers {unknown} are not registered", file=sys.stderr)
                return 1
            print_current(current)
            try:
                zk.create(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(plan), makepath=True)
            except NodeExistsError:
                print("kopfka reassign: a reassignment is already in progress", file=sys.stderr)
                return 1
            print_started(plan)
            return 0
        try:
            in_progress = md.decode_reassignment(zk.get(md.REASSIGN_PARTITIONS_PATH)[0])
        except NoNodeError:
            in_progress = {}
        lines, ok = verify_lines(plan, current, in_progress)
        print("\n".join(lines))
        return 0 if ok else 1
    finally:
        zk.stop()
        zk.close()
