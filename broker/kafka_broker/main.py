"""``kopfka-broker server.properties [--override key=value ...]``: run one broker, like
``kafka-server-start.sh``. A bad configuration (including the ZooKeeper login's JAAS file named in
``KAFKA_OPTS``) exits with status 2 and a one-line reason before any data is touched; a ZooKeeper that
refuses the broker's login, with 1 and a one-line reason. A broker stopped by a signal exits with 0, one
that stopped because it could not go on (a background task died, it could not rejoin the cluster) with 1,
after logging why."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from kafka_broker.config import ConfigError, load_config, parse_overrides


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kopfka-broker", description="Run a kopfka broker.")
    parser.add_argument("config", nargs="?", help="server.properties file")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="override a property of the file (repeatable)")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def install_event_loop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    logging.getLogger("kazoo").setLevel(logging.WARNING)
    try:
        config = load_config(args.config, parse_overrides(args.override))
        from kafka_broker.broker import Broker

        broker = Broker(config)  # reads the ZooKeeper login's JAAS file
    except ConfigError as exc:
        print(f"kopfka-broker: invalid configuration: {exc}", file=sys.stderr)
        return 2
    from kafka_broker.cluster.zk_client import ZooKeeperLoginRefusedError

    install_event_loop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(broker.run_until_stopped())
    except ZooKeeperLoginRefusedError as exc:
        print(f"kopfka-broker: {exc}", file=sys.stderr)
        return 1
    return broker.exit_code


if __name__ == "__main__":
    sys.exit(main())
