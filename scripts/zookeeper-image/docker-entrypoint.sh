#!/bin/bash
# Entry point of kopfka/zookeeper: writes $ZOO_CONF_DIR/zoo.cfg from ZOO_* variables (unless a zoo.cfg is
# already there, e.g. mounted), writes $ZOO_DATA_DIR/myid from ZOO_MY_ID, and, when started as root to run
# the server, hands the data folders to the `zookeeper` user and drops to it. Then runs its arguments.
#
# Variables (defaults in brackets), the ones the official image reads:
#   ZOO_MY_ID [1]                 this server's id (1..255), written to myid when myid is missing
#   ZOO_SERVERS                   space-separated "server.N=host:peer:election;client" lines
#   ZOO_STANDALONE_ENABLED [true] standaloneEnabled (false for an ensemble)
#   ZOO_ADMINSERVER_ENABLED [true] admin.enableServer
#   ZOO_4LW_COMMANDS_WHITELIST [srvr] 4lw.commands.whitelist
#   ZOO_TICK_TIME [2000] ZOO_INIT_LIMIT [5] ZOO_SYNC_LIMIT [2] ZOO_MAX_CLIENT_CNXNS [60]
#   ZOO_AUTOPURGE_PURGEINTERVAL [0] ZOO_AUTOPURGE_SNAPRETAINCOUNT [3]
#   ZOO_CFG_EXTRA                 space-separated extra "key=value" settings
#   ZOO_CONF_DIR [/conf] ZOO_DATA_DIR [/data] ZOO_DATA_LOG_DIR [/datalog]
set -euo pipefail

: "${ZOO_CONF_DIR:=/conf}" "${ZOO_DATA_DIR:=/data}" "${ZOO_DATA_LOG_DIR:=/datalog}"
export ZOO_CONF_DIR ZOO_DATA_DIR ZOO_DATA_LOG_DIR

if [[ "${1:-}" == zkServer.sh && "$(id -u)" == 0 ]]; then
    mkdir -p "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
    chown -R zookeeper:zookeeper "$ZOO_CONF_DIR" "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR"
    exec setpriv --reuid=zookeeper --regid=zookeeper --init-groups "$0" "$@"
fi

config="$ZOO_CONF_DIR/zoo.cfg"
if [[ ! -f "$config" ]]; then
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=${ZOO_TICK_TIME:-2000}"
        echo "initLimit=${ZOO_INIT_LIMIT:-5}"
        echo "syncLimit=${ZOO_SYNC_LIMIT:-2}"
        echo "maxClientCnxns=${ZOO_MAX_CLIENT_CNXNS:-60}"
        echo "autopurge.snapRetainCount=${ZOO_AUTOPURGE_SNAPRETAINCOUNT:-3}"
        echo "autopurge.purgeInterval=${ZOO_AUTOPURGE_PURGEINTERVAL:-0}"
        echo "standaloneEnabled=${ZOO_STANDALONE_ENABLED:-true}"
        echo "admin.enableServer=${ZOO_ADMINSERVER_ENABLED:-true}"
        echo "4lw.commands.whitelist=${ZOO_4LW_COMMANDS_WHITELIST:-srvr}"
        if [[ -n "${ZOO_SERVERS:-}" ]]; then
            for server in $ZOO_SERVERS; do echo "$server"; done
        else
            echo "server.1=localhost:2888:3888;2181"
        fi
        for setting in ${ZOO_CFG_EXTRA:-}; do echo "$setting"; done
    } >"$config"
fi

if [[ ! -f "$ZOO_DATA_DIR/myid" ]]; then
    echo "${ZOO_MY_ID:-1}" >"$ZOO_DATA_DIR/myid"
fi

exec "$@"
