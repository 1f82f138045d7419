#!/usr/bin/env bash
# Install what `make run` and `make test` need, from Debian's and PyPI's registries only:
#   - Debian packages: zookeeper (run with java directly, no service), kcat, openssl, a JDK, Maven (fetches
#     Apache Kafka's jars from Maven Central for the kafka-tools tier and bench/), python3-venv;
#   - .venv with the machine's python3 and `pip install -e '.[dev]'`, which also compiles the record walk
#     (setup.py) into broker/kafka_broker/storage/.
# Idempotent and quick when done: apt runs only for missing packages (and `apt-get update` only then),
# pip only when pyproject.toml, setup.py or the record walk's source changed since the last successful
# install (stamp in .venv/): an editable install imports the compiled walk, which must not be older than it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for pkg in zookeeper kcat openssl; do  # openssl: the TLS tests compare cipher names with its table
    installed "$pkg" || missing+=("$pkg")
done
# A JDK, not only a runtime: the kafka-tools tier runs a Kafka Streams application from its .java source.
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)   # Kafka's own jars for the kafka-tools tier and bench/
# Debian's python3 creates venvs only with python3-venv (ensurepip); pyenv/other builds have it.
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-deps: creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.kopfka-installed"
want="$(cat pyproject.toml setup.py broker/kafka_broker/storage/record_walk.{py,pxd} | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: pip install -e '.[dev]'"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi
