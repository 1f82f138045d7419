"""Profile kopfka's brokers under one of bench/compare.py's workloads, with py-spy (issue 7, point 2).

Starts a local kopfka cluster, attaches ``py-spy record`` to every broker process, runs the workload's
produce and consume (the same confluent-kafka clients and settings as ``compare.py``) and prints, per
broker, the functions with the most samples — by self time (where the CPU is) and by total time (which
calls lead there) — plus the share of samples in which the event loop was idle. ``--out DIR`` keeps
py-spy's raw collapsed stacks (``broker-<id>.txt``; feed them to any flame-graph tool).

Usage::

    python bench/profile.py --workload 3                 # acks=all, RF 3, 1 KiB
    python bench/profile.py --workload 1 --records 1000000 --phase produce
    python bench/profile.py --workload 1 --phase fetch --fetch-rounds 5
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fetch_reader
from compare import COMMON_PROPERTIES, WORKLOADS, consume, create_topic, produce
from kafka_broker.local import LocalCluster
from kafka_broker.local.zookeeper import ZooKeeperProcess

IDLE_FRAMES = ("select (selectors.py", "poll (selectors.py", "run_forever (uvloop", "_run_once (asyncio")


def frame_name(frame: str) -> str:
    """``handle (kafka_broker/handlers/produce.py:57)`` → ``handle (handlers/produce.py)``: one row per
    function, whatever line the sample was on."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("kafka_broker/", "site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def summarize(collapsed: Path, *, top: int) -> str:
    """Self and total sample counts per function from py-spy's ``--format raw`` output."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        leaf = frames[-1]
        if any(marker in leaf for marker in IDLE_FRAMES):
            idle += count
        own[frame_name(leaf)] += count
        for name in {frame_name(f) for f in frames}:
            total[name] += count
    if not samples:
        return "  no samples"
    lines = [f"  {samples} samples, event loop idle in {100 * idle / samples:.1f}%", "  self:"]
    lines += [f"    {100 * n / samples:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  total:")
    lines += [f"    {100 * n / samples:5.1f}%  {name}" for name, n in total.most_common(top)]
    return "\n".join(lines)


@contextlib.contextmanager
def recording(pids: dict[int, int], out: Path, rate: int):
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    procs = {
        broker_id: subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nonblocking",
             "--output", str(out / f"broker-{broker_id}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for broker_id, pid in pids.items()
    }
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for broker_id, proc in procs.items():
            _, err = proc.communicate(timeout=60)
            if proc.returncode not in (0, -signal.SIGINT, 130):
                print(f"py-spy for broker {broker_id} failed: {err.decode(errors='replace')}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workload",
        type=int,
        default=3,
        help="index into: " + "; ".join(f"{i}={w.name}" for i, w in enumerate(WORKLOADS)),
    )
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--phase",
        choices=("produce", "consume", "fetch", "all"),
        action="append",
        help="what to profile, repeatable: produce, consume (confluent-kafka), fetch (bench/fetch_reader.py); "
        "default produce and consume",
    )
    parser.add_argument("--fetch-rounds", type=int, default=3, help="times the fetch phase reads the topic")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, help="keep the collapsed stacks here")
    args = parser.parse_args(argv)
    workload = WORKLOADS[args.workload]
    phases = set(args.phase or ("produce", "consume"))
    if "all" in phases:
        phases = {"produce", "consume", "fetch"}

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kopfka-profile-")))
        out = args.out or work
        out.mkdir(parents=True, exist_ok=True)
        zookeeper = stack.enter_context(ZooKeeperProcess(data_dir=work / "zookeeper"))
        cluster = stack.enter_context(
            LocalCluster(
                brokers=workload.brokers,
                data_dir=work / "kopfka",
                zookeeper_connect=f"{zookeeper.connect}/profile",
                overrides=COMMON_PROPERTIES,
            )
        )
        bootstrap = cluster.bootstrap_servers
        topic = create_topic(bootstrap, partitions=args.partitions, replication_factor=workload.replication_factor)
        produce(bootstrap, topic, size=workload.size, records=20_000, acks=workload.acks)  # warm-up
        records = 20_000
        if "produce" not in phases:  # something to read, written before the recording starts
            produce(bootstrap, topic, size=workload.size, records=args.records, acks=workload.acks)
            records += args.records
        pids = {i: int(cluster.pid_path(i).read_text()) for i in cluster.broker_ids}
        with recording(pids, out, args.rate):
            if "produce" in phases:
                seconds = produce(bootstrap, topic, size=workload.size, records=args.records, acks=workload.acks)
                records += args.records
                print(f"{workload.name}: produce {workload.size * args.records / 1e6 / seconds:.1f} MB/s")
            mb = workload.size * records / 1e6
            if "consume" in phases:
                seconds = consume(bootstrap, topic, records=records, partitions=args.partitions)
                print(f"{workload.name}: consume {mb / seconds:.1f} MB/s", flush=True)
            if "fetch" in phases:
                for _ in range(args.fetch_rounds):
                    seconds = fetch_reader.read_topic(bootstrap, topic, records=records)
                    print(f"{workload.name}: fetch {mb / seconds:.1f} MB/s", flush=True)
        for broker_id in sorted(pids):
            print(f"\nbroker {broker_id}:")
            print(summarize(out / f"broker-{broker_id}.txt", top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
