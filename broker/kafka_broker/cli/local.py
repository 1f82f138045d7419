"""`kopfka local`: ZooKeeper and N kopfka brokers on this machine, until SIGINT/SIGTERM.

Prints `bootstrap: host:port,...` on stdout once every broker has registered in ZooKeeper (the one
line scripts wait for); where things are (ZooKeeper, logs, pid files) goes to stderr. A broker that
dies while the cluster runs is reported on stderr; the others keep running. On SIGINT or SIGTERM all
brokers get SIGTERM (controlled shutdown), then ZooKeeper stops, and the exit code is 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from kafka_broker.cli.options import error, key_value, to_dict
from kafka_broker.local import LocalCluster

HELP = "run ZooKeeper and N brokers on this machine until Ctrl-C"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brokers", type=int, default=1, help="number of brokers, ids 1..N (default 1)")
    parser.add_argument("--data", type=Path, default=Path("./data"), help="data folder (default ./data)")
    parser.add_argument(
        "--port",
        type=int,
        default=9092,
        help="broker i listens on PORT+i-1, HTTP on PORT+100+i-1; 0 picks free ports (default 9092)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on and advertise")
    parser.add_argument("--zookeeper", metavar="HOST:PORT[/CHROOT]", help="use this ZooKeeper instead of our own")
    parser.add_argument(
        "--override",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="server.properties setting for every broker",
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cluster = LocalCluster(
        brokers=args.brokers,
        data_dir=args.data,
        port=args.port,
        host=args.host,
        zookeeper_connect=args.zookeeper,
        overrides=to_dict(args.override),
    )
    try:
        _start_interruptibly(cluster, stop)
    except Exception as e:
        return error(f"kopfka local: {e}")
    if stop.is_set():
        return 0
    print(f"bootstrap: {cluster.bootstrap_servers}", flush=True)
    print(f"zookeeper: {cluster.zookeeper_connect}", file=sys.stderr)
    for broker_id in cluster.broker_ids:
        print(f"broker {broker_id}: log {cluster.log_path(broker_id)}", file=sys.stderr)
    print("Ctrl-C stops the cluster.", file=sys.stderr, flush=True)
    reported: set[int] = set()
    while not stop.wait(1.0):
        for broker_id in cluster.broker_ids:
            if broker_id not in reported and not cluster.is_running(broker_id):
                reported.add(broker_id)
                print(
                    f"broker {broker_id} exited; see {cluster.log_path(broker_id)}",
                    file=sys.stderr,
                    flush=True,
                )
    print("stopping…", file=sys.stderr, flush=True)
    cluster.stop()
    return 0


def _start_interruptibly(cluster: LocalCluster, stop: threading.Event) -> None:
    """Start in a thread so a signal during start-up stops what was started instead of waiting."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            cluster.start()
        except BaseException as e:
            failure.append(e)

    thread = threading.Thread(target=target, name="cluster-start", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.is_set():
        thread.join(0.2)
    if stop.is_set():
        # Stopping the processes makes the waiting start() fail within 0.1 s; stop again for anything
        # it started in between.
        cluster.stop()
        thread.join(30)
        cluster.stop()
        return
    if failure:
        raise failure[0]
