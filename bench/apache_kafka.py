"""Real Apache Kafka 3.9 (ZooKeeper mode) on this machine, as a reference to compare kopfka with.

Kafka's jars come from `tests/kafka_tools/kafka_jars.py`, the one place that fetches them (from Maven Central,
once, into `~/.cache/kopfka/kafka-3.9/libs/`) and runs Kafka's tools; the kafka-tools test tier uses it too.
Brokers run as `java -cp 'libs/*' kafka.Kafka server.properties`, managed by the same `LocalCluster` code as
kopfka's (ports, data layout, registration wait, stop), so a benchmark or a CLI check swaps one for the other.

Usage::

    python bench/apache_kafka.py run --brokers 3 --data /tmp/ak      # like `kopfka local`
    python bench/apache_kafka.py tool kafka-topics --bootstrap-server H:P --describe
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.kafka_tools

from tests.kafka_tools.kafka_jars import KAFKA_VERSION, TOOLS, ensure_kafka, java_command, tool_command

from kafka_broker.local import LocalCluster

__all__ = ["KAFKA_VERSION", "ApacheKafkaCluster"]

BROKER_LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


class ApacheKafkaCluster(LocalCluster):
    """`LocalCluster` running Apache Kafka brokers: same constructor, methods and properties."""

    heap = "1g"

    def broker_command(self, broker_id: int, properties_path: Path) -> list[str]:
        log4j = properties_path.with_name("log4j.properties")
        log4j.write_text(BROKER_LOG4J)
        return java_command("kafka.Kafka", str(properties_path), heap=self.heap, log4j=log4j,
                            jvm_options=(f"-Xms{self.heap}", "-XX:+UseG1GC"))

    def flavour_properties(self, broker_id: int) -> dict[str, str]:
        # No kopfka.http.port; a consumer group starts at once instead of after Kafka's 3 s delay.
        return {"group.initial.rebalance.delay.ms": "0"}

    def start(self) -> str:
        ensure_kafka()  # outside the registration timeout: the first download takes a while
        return super().start()


def _run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with ApacheKafkaCluster(brokers=args.brokers, data_dir=Path(args.data), port=args.port) as cluster:
        print(f"bootstrap: {cluster.bootstrap_servers}", flush=True)
        print(f"zookeeper: {cluster.zookeeper_connect}", flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an Apache Kafka cluster until SIGINT/SIGTERM")
    run.add_argument("--brokers", type=int, default=1)
    run.add_argument("--data", default="./data-apache-kafka")
    run.add_argument("--port", type=int, default=0, help="first broker's port (0: free ports)")
    tool = sub.add_parser("tool", help="run one of Kafka's own tools")
    tool.add_argument("name", choices=sorted(TOOLS))
    tool.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("fetch", help="only download the jars")
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "tool":
        return subprocess.run(tool_command(args.name, *args.args), check=False).returncode  # the terminal's stdio
    print(ensure_kafka())
    return 0


if __name__ == "__main__":
    sys.exit(main())
