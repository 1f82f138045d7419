"""Real Apache Kafka 3.9 (ZooKeeper mode) on this machine, as a reference to compare kopfka with.

The jars come from Maven Central (the only place Kafka is served here): a generated pom names
`kafka_2.13`, `kafka-tools` and the log4j binding, and `mvn dependency:copy-dependencies` copies them
with their runtime dependencies into `~/.cache/kopfka/kafka-3.9/libs/` once. Brokers run as
`java -cp 'libs/*' kafka.Kafka server.properties`, managed by the same `LocalCluster` code as kopfka's
(ports, data layout, registration wait, stop), so a benchmark or a CLI check swaps one for the other.

Not used by the test suite. Usage::

    python bench/apache_kafka.py run --brokers 3 --data /tmp/ak      # like `kopfka local`
    python bench/apache_kafka.py tool kafka-topics --bootstrap-server H:P --describe
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from kafka_broker.local import LocalCluster

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kopfka" / "kafka-3.9"

# Kafka's bin/*.sh scripts, as main classes (3.9 moved all but the console producer to org.apache.kafka.tools).
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer": "kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
}

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.kopfka.bench</groupId>
  <artifactId>apache-kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
</project>
"""

LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""

TOOLS_LOG4J = """log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def ensure_kafka(*, version: str = KAFKA_VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    """Download Kafka's jars once (Maven Central via `mvn`); return the folder holding them."""
    libs = cache_dir / "libs"
    marker = cache_dir / f".complete-{version}"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Apache Kafka's jars are fetched with Maven: apt-get install maven")
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "pom.xml").write_text(POM.format(scala=SCALA_VERSION, kafka=version))
    shutil.rmtree(libs, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(cache_dir / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        check=True,
    )
    (cache_dir / "log4j.properties").write_text(LOG4J)
    (cache_dir / "tools-log4j.properties").write_text(TOOLS_LOG4J)
    marker.write_text(version + "\n")
    return libs


def java_command(main_class: str, *args: str, heap: str = "512m", log4j: str = "log4j.properties") -> list[str]:
    """`java … main_class args` with Kafka's jars on the class path."""
    libs = ensure_kafka()
    return [
        "java",
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{libs.parent / log4j}",
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def kafka_tool(name: str, *args: str, **run_kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """Run one of Kafka's own command-line tools (`kafka-topics`, …) and return the finished process."""
    cmd = java_command(TOOLS[name], *args, heap="256m", log4j="tools-log4j.properties")
    return subprocess.run(cmd, **run_kwargs)  # type: ignore[call-overload, no-any-return]


class ApacheKafkaCluster(LocalCluster):
    """`LocalCluster` running Apache Kafka brokers: same constructor, methods and properties."""

    heap = "1g"

    def broker_command(self, broker_id: int, properties_path: Path) -> list[str]:
        return java_command("kafka.Kafka", str(properties_path), heap=self.heap)

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
        return kafka_tool(args.name, *args.args).returncode
    print(ensure_kafka())
    return 0


if __name__ == "__main__":
    sys.exit(main())
