"""Failover times of a kopfka cluster, measured with real processes and a real client.

* **kill -9 of a leader → first acknowledged produce on the new leader.** A ZooKeeper-mode cluster
  notices a dead broker when its session expires, so this is dominated by
  ``zookeeper.session.timeout.ms`` (given with ``--session-timeout-ms``; Kafka's default is 18 000).
* **SIGTERM of a leader → leadership moved.** Controlled shutdown hands leadership to another
  in-sync replica before the process exits; measured until Metadata names the new leader, and
  until the first produce acknowledged by it.

Each measurement is repeated ``--rounds`` times on a 3-broker cluster (RF 3, one partition) with a
producer writing throughout (acks=all); the median and the spread are printed as Markdown.

    python bench/failover.py --rounds 5 --session-timeout-ms 6000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_broker.local import LocalCluster


def leader_of(admin: AdminClient, topic: str) -> int:
    try:
        md = admin.list_topics(topic, timeout=2)
    except Exception:
        return -1
    partitions = md.topics[topic].partitions
    return partitions[0].leader if 0 in partitions else -1


class AckClock:
    """A producer writing small acks=all records continuously; records when acknowledgements arrive."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                                  "enable.idempotence": False, "retry.backoff.ms": 20,
                                  "topic.metadata.refresh.interval.ms": 200, "message.timeout.ms": 120_000})
        self.topic = topic
        self.acks: list[tuple[float, float]] = []  # (sent at, acknowledged at)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()

            def done(err, _msg, sent=sent) -> None:
                if err is None:
                    self.acks.append((sent, time.monotonic()))

            self.producer.produce(self.topic, b"tick", partition=0, on_delivery=done)
            self.producer.poll(0.005)
        self.producer.flush(60)

    def first_ack_sent_after(self, moment: float, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [acked for sent, acked in list(self.acks) if sent >= moment]
            if later:
                return min(later)
            time.sleep(0.005)
        raise TimeoutError("no produce was acknowledged after the failure")


def measure(rounds: int, session_timeout_ms: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"kill9_to_first_ack": [], "sigterm_to_leader_moved": [],
                                       "sigterm_to_first_ack": []}
    overrides = {"zookeeper.session.timeout.ms": str(session_timeout_ms), "replica.fetch.wait.max.ms": "100",
                 "min.insync.replicas": "2"}
    with tempfile.TemporaryDirectory() as data, LocalCluster(brokers=3, data_dir=Path(data),
                                                             overrides=overrides) as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
        admin.create_topics([NewTopic("failover", 1, 3)], operation_timeout=30)["failover"].result(60)
        clock = AckClock(cluster.bootstrap_servers, "failover")
        clock.thread.start()
        try:
            clock.first_ack_sent_after(time.monotonic())
            for _ in range(rounds):
                for kind in ("kill9", "sigterm"):
                    leader = leader_of(admin, "failover")
                    moment = time.monotonic()
                    if kind == "kill9":
                        cluster.kill_broker(leader, signal.SIGKILL)
                        results["kill9_to_first_ack"].append(clock.first_ack_sent_after(moment) - moment)
                    else:
                        cluster.kill_broker(leader, signal.SIGTERM, wait=False)
                        while leader_of(admin, "failover") in (leader, -1):
                            time.sleep(0.005)
                        results["sigterm_to_leader_moved"].append(time.monotonic() - moment)
                        results["sigterm_to_first_ack"].append(clock.first_ack_sent_after(moment) - moment)
                        with contextlib.suppress(Exception):
                            cluster.kill_broker(leader, signal.SIGTERM)
                    cluster.start_broker(leader)
                    while len(admin.list_topics("failover", timeout=5).topics["failover"].partitions[0].isrs) < 3:
                        time.sleep(0.1)
        finally:
            clock.stop.set()
            clock.thread.join(60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--session-timeout-ms", type=int, default=6000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.rounds, args.session_timeout_ms)
    print(f"3 brokers, RF 3, acks=all, zookeeper.session.timeout.ms={args.session_timeout_ms}, "
          f"{args.rounds} rounds\n")
    print("| measurement | median (s) | min (s) | max (s) |\n|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name.replace('_', ' ')} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
