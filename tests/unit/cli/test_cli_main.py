"""The `kopfka` entry point: every subcommand registered, with the module interface it relies on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kafka_broker.cli.main import SUBCOMMANDS, build_parser


def test_the_issue_s_subcommands_exist() -> None:
    assert {"local", "topics", "console-producer", "console-consumer"} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_module_has_the_interface(name: str) -> None:
    module = SUBCOMMANDS[name]
    assert isinstance(module.HELP, str) and module.HELP
    assert callable(module.configure) and callable(module.run)


def test_a_subcommand_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


def test_module_entry_point_prints_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kafka_broker.cli.main", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for name in SUBCOMMANDS:
        assert name in proc.stdout
