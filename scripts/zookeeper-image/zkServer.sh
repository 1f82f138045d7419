#!/bin/bash
# `zkServer.sh start-foreground`: runs ZooKeeper (Debian's jars) in the foreground on $ZOO_CONF_DIR/zoo.cfg,
# logging to stderr (slf4j-simple, listed first so it wins over the other SLF4J bindings Debian installs).
# The only command this image's zkServer.sh knows: the others are service-manager business
# (start/stop/status of a daemonised server), which a container does not need.
# JVMFLAGS is passed to java; ZK_SERVER_HEAP (MB, default 512) sets the maximum heap.
set -euo pipefail
if [[ "${1:-}" != start-foreground ]]; then
    echo "usage: zkServer.sh start-foreground (the only command of this image)" >&2
    exit 2
fi
exec java "-Xmx${ZK_SERVER_HEAP:-512}m" ${JVMFLAGS:-} \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "/usr/share/java/slf4j-simple.jar:/usr/share/java/zookeeper.jar:/usr/share/java/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "${ZOO_CONF_DIR:-/conf}/zoo.cfg"
