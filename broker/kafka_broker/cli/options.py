"""Argument helpers shared by the subcommands: Kafka-style `key=value` options and error reporting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from kafka_broker.cli.client_properties import librdkafka_settings, read_client_properties

CLIENT_DEFAULTS: dict[str, str | int | float | bool] = {
    # librdkafka logs every failed connection attempt (every 50-100 ms while a broker is down); the
    # commands report failures themselves, so only critical log lines get through.
    "log_level": 2,
}


def key_value(text: str) -> tuple[str, str]:
    """argparse type for `--property k=v`, `--config k=v` …: split at the first `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value


def to_dict(pairs: Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """Repeated `k=v` options as a dict; a later one wins, as in Kafka's tools."""
    return dict(pairs or ())


def truthy(value: str | None) -> bool:
    """Kafka's reading of boolean properties: only "true" (any case) is true."""
    return value is not None and value.strip().lower() == "true"


def add_bootstrap(parser: argparse.ArgumentParser, *, config_flags: Iterable[str] = ("--command-config",)) -> None:
    parser.add_argument(
        "--bootstrap-server",
        required=True,
        metavar="HOST:PORT[,HOST:PORT]",
        help="brokers to connect to",
    )
    flags = list(config_flags)
    parser.add_argument(*flags, dest="command_config", metavar="FILE",
                        help="Kafka client properties (security.protocol, sasl.*, ssl.*: PEM stores), as Kafka's "
                             "tools read them")


ClientConfig = dict[str, str | int | float | bool]


def client_config(args: argparse.Namespace) -> ClientConfig:
    """librdkafka's settings for a command: quiet logging, the bootstrap servers, the properties file's security."""
    return {**CLIENT_DEFAULTS, "bootstrap.servers": args.bootstrap_server,
            **librdkafka_settings(read_client_properties(getattr(args, "command_config", None)))}


def error(message: str) -> int:
    """Print an error on stderr and return the exit code for failures (1)."""
    print(message, file=sys.stderr, flush=True)
    return 1
