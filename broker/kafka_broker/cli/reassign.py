"""`kopfka reassign --zookeeper ZK --execute PLAN | --verify PLAN`: move partition replicas, the way
Kafka's ZooKeeper-era `kafka-reassign-partitions.sh` does.

The plan is Kafka's JSON (`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}`).
`--execute` prints the current assignment (keep it to roll back) and writes the plan to
`/admin/reassign_partitions`; the controller adds the new replicas, waits until they are in sync,
moves leadership if needed and only then drops the old ones. `--verify` reports each partition as
complete or still in progress.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from kafka_broker import metadata as md

HELP = "reassign partition replicas from a JSON plan (execute or verify)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zookeeper", required=True, help="host:port[/chroot] of the cluster's ZooKeeper")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--execute", metavar="PLAN", help="start the reassignment in the plan file")
    action.add_argument("--verify", metavar="PLAN", help="report whether the plan's reassignment is done")


def load_plan(path: str) -> dict[tuple[str, int], list[int]]:
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


def current_assignment(zk: KazooClient, plan: dict[tuple[str, int], list[int]]) -> dict[tuple[str, int], list[int]]:
    current: dict[tuple[str, int], list[int]] = {}
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


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.execute or args.verify)
    zk = KazooClient(hosts=args.zookeeper)
    zk.start(timeout=15)
    try:
        brokers = {int(b) for b in zk.get_children(md.BROKER_IDS_PATH)}
        current = current_assignment(zk, plan)
        if args.execute:
            unknown = sorted({b for replicas in plan.values() for b in replicas} - brokers)
            if unknown:
                print(f"kopfka reassign: brokers {unknown} are not registered", file=sys.stderr)
                return 1
            print("Current partition replica assignment\n")
            print(md.encode_reassignment(current).decode())
            print("\nSave this to use as the --execute plan during rollback")
            try:
                zk.create(md.REASSIGN_PARTITIONS_PATH, md.encode_reassignment(plan), makepath=True)
            except NodeExistsError:
                print("kopfka reassign: a reassignment is already in progress", file=sys.stderr)
                return 1
            print("Successfully started partition reassignments for "
                  + ",".join(f"{t}-{p}" for t, p in sorted(plan)))
            return 0
        try:
            in_progress = md.decode_reassignment(zk.get(md.REASSIGN_PARTITIONS_PATH)[0])
        except NoNodeError:
            in_progress = {}
        failed = False
        for key in sorted(plan):
            name = f"{key[0]}-{key[1]}"
            if key in in_progress:
                print(f"Reassignment of partition {name} is still in progress.")
            elif current[key] == plan[key]:
                print(f"Reassignment of partition {name} is complete.")
            else:
                failed = True
                print(f"Reassignment of partition {name} failed: replicas are {current[key]}, not {plan[key]}.")
        return 1 if failed else 0
    finally:
        zk.stop()
        zk.close()
