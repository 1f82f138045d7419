"""Entry point of the `kopfka` console script: one argparse subcommand per module.

Each subcommand module exposes `HELP` (one line), `configure(parser)` (adds its options) and
`run(args) -> int` (the exit code). Register a new one (`groups`, `reassign`, …) in `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from kafka_broker.cli import (
    configs,
    console_consumer,
    console_producer,
    delete_records,
    groups,
    local,
    reassign,
    topics,
)
from kafka_broker.cli.client_properties import ClientPropertiesError
from kafka_broker.config import ConfigError

SUBCOMMANDS: dict[str, ModuleType] = {
    "local": local,
    "topics": topics,
    "configs": configs,
    "console-producer": console_producer,
    "console-consumer": console_consumer,
    "reassign": reassign,
    "groups": groups,
    "delete-records": delete_records,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kopfka", description="kopfka: Kafka-compatible brokers and their tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub_parser)
        sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except (ClientPropertiesError, ConfigError) as exc:  # a client properties file the command cannot use
        print(f"kopfka {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
