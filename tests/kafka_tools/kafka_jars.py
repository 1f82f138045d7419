"""Apache Kafka 3.9's jars on this machine, and its command-line tools run from them.

The jars come from Maven Central, the only place Kafka is served here: a generated pom names
`kafka_2.13`, `kafka-tools` and a log4j binding, and `mvn dependency:copy-dependencies` copies them
with their runtime dependencies into `~/.cache/kopfka/kafka-3.9/libs/` (Maven keeps its own copy in
`~/.m2`). That happens once: a marker file names the version that was completely copied. Two processes
asking at once take turns on a lock file; the second finds the marker and downloads nothing. The
copy lands in a temporary folder renamed into place, so a killed download leaves no half folder behind.

A tool runs as `bin/kafka-*.sh` runs it, `java -cp 'libs/*' <main class> args`, with flags that make
a short-lived JVM start cheaply: C1 only (`-XX:TieredStopAtLevel=1`), the serial collector, a small heap,
no perf-data file, and an application class-data archive (AppCDS). The first tool call writes that
archive of the classes it loaded (`-XX:ArchiveClassesAtExit`); later calls map it instead of loading
and verifying those classes again (`-XX:SharedArchiveFile`, ~0.35 s and ~40 % CPU less per call here).
The archive's name carries the JVM's identity, so another JVM ignores it; a JVM that cannot use an
archive runs without it (`-Xshare:auto`). JVM messages go to stderr: stdout is the tool's alone.

Used by the kafka-tools test tier (`tests/kafka_tools/`) and by `bench/apache_kafka.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

KAFKA_VERSION = "3.9.2"
SCALA_VERSION = "2.13"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kopfka" / "kafka-3.9"

# Kafka's bin/*.sh scripts, as main classes (3.9 moved all but a few to org.apache.kafka.tools).
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-acls": "kafka.admin.AclCommand",
    "kafka-broker-api-versions": "kafka.admin.BrokerApiVersionsCommand",
    "kafka-console-producer": "kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-verifiable-producer": "org.apache.kafka.tools.VerifiableProducer",
}

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.kopfka</groupId>
  <artifactId>apache-kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-streams</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
</project>
"""

# As bin/kafka-run-class.sh gives the tools (config/tools-log4j.properties): warnings, on stderr.
TOOLS_LOG4J = """log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
"""

FAST_START = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xshare:auto")
"""JVM flags for short-lived tool processes: they spend their life starting up."""

JVM_LOG = ("-Xlog:disable", "-Xlog:all=warning:stderr")
"""The JVM's own warnings (class-data sharing's, say) go to stderr, not into the tool's output."""


class KafkaUnavailable(RuntimeError):
    """Kafka's jars are not here and could not be fetched (no `mvn`, or the download failed)."""


def libs_dir(cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / "libs"


def _marker(version: str) -> str:
    """The name of the file saying these jars were completely copied: the version and a digest of the
    pom's artifact list, so adding an artifact fetches again."""
    digest = hashlib.sha256(POM.format(scala=SCALA_VERSION, kafka=version).encode()).hexdigest()[:8]
    return f".complete-{version}-{digest}"


def is_cached(*, version: str = KAFKA_VERSION, cache_dir: Path = CACHE_DIR) -> bool:
    return (cache_dir / _marker(version)).exists()


def ensure_kafka(*, version: str = KAFKA_VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    """Download Kafka's jars once (Maven Central via `mvn`); return the folder holding them."""
    if is_cached(version=version, cache_dir=cache_dir):
        return libs_dir(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        if not is_cached(version=version, cache_dir=cache_dir):  # another process may have finished meanwhile
            _download(version, cache_dir)
    return libs_dir(cache_dir)


def java_command(
    main_class: str,
    *args: str,
    heap: str = "256m",
    log4j: Path | None = None,
    jvm_options: Sequence[str] = (),
    cache_dir: Path = CACHE_DIR,
) -> list[str]:
    """`java … main_class args` with Kafka's jars on the class path (downloaded first if needed)."""
    libs = ensure_kafka(cache_dir=cache_dir)
    return [
        "java",
        f"-Xmx{heap}",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{log4j or cache_dir / 'tools-log4j.properties'}",
        *jvm_options,
        "-cp",
        f"{libs}/*",
        main_class,
        *args,
    ]


def tool_command(name: str, *args: str, jvm_options: Sequence[str] = (), cache_dir: Path = CACHE_DIR) -> list[str]:
    """The command line of Kafka's tool `name` (`kafka-topics`, …), with the fast-start flags."""
    options = (*FAST_START, *JVM_LOG, *jvm_options)
    return java_command(TOOLS[name], *args, jvm_options=options, cache_dir=cache_dir)


def run_tool(
    name: str, *args: str, input: str | None = None, timeout: float = 60, cache_dir: Path = CACHE_DIR
) -> subprocess.CompletedProcess[str]:
    """Run Kafka's tool `name` as `bin/<name>.sh args` would; return its exit code, stdout and stderr."""

    def run(*jvm_options: str) -> subprocess.CompletedProcess[str]:
        cmd = tool_command(name, *args, jvm_options=jvm_options, cache_dir=cache_dir)
        return subprocess.run(cmd, input=input, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=timeout, check=False)

    archive = cache_dir / f"tools-{_jvm_identity()}.jsa"
    if archive.exists():
        return run(f"-XX:SharedArchiveFile={archive}")
    written = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    try:
        result = run(f"-XX:ArchiveClassesAtExit={written}")
        if written.exists():  # publish it whole, for the calls that follow (any process's)
            written.replace(archive)
            for other_jvm in set(cache_dir.glob("tools-*.jsa")) - {archive}:
                other_jvm.unlink(missing_ok=True)
        return result
    finally:
        written.unlink(missing_ok=True)


def _download(version: str, cache_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable("Apache Kafka's jars are fetched with Maven: apt-get install maven")
    pom = cache_dir / "pom.xml"
    pom.write_text(POM.format(scala=SCALA_VERSION, kafka=version))
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=cache_dir))
    try:
        done = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={staging}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-3000:]
            raise KafkaUnavailable(f"mvn could not fetch Kafka {version}'s jars:\n{output}")
        (cache_dir / "tools-log4j.properties").write_text(TOOLS_LOG4J)
        for stale in (*cache_dir.glob(".complete-*"), *cache_dir.glob("tools-*.jsa")):  # the previous jars'
            stale.unlink()
        shutil.rmtree(libs_dir(cache_dir), ignore_errors=True)
        staging.chmod(0o755)  # mkdtemp's 0700 is not needed here
        staging.rename(libs_dir(cache_dir))
        (cache_dir / _marker(version)).write_text(version + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _jvm_identity() -> str:
    """Which JVM `java` is: its resolved path and its libjvm's size and time (an upgrade changes them)."""
    java = shutil.which("java")
    if java is None:
        return "none"
    binary = Path(java).resolve()
    libjvm = binary.parent.parent / "lib" / "server" / "libjvm.so"
    stat = (libjvm if libjvm.exists() else binary).stat()
    return hashlib.sha256(f"{binary}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
