# shellcheck shell=bash
# Sourced by the image scripts: `ensure_dockerd` makes sure a dockerd answers and runs every container
# through the kopfka-runc runtime (scripts/docker/kopfka-runc), which drops the capabilities this
# machine's bounding set lacks (CAP_SYS_RESOURCE) — without it `docker run --privileged`, and so kind,
# fails with "unable to apply caps: operation not permitted".
#
# - No dockerd answers: start one with the runtime registered as the default, log in $CACHE/dockerd.log.
# - A dockerd answers with kopfka-runc as its default runtime at the installed path: use it.
# - A dockerd answers without it: if it is one these scripts started (its output goes to
#   $CACHE/dockerd.log), restart it with the runtime; otherwise stop with a message saying what to do,
#   since stopping someone else's dockerd would stop their containers.
# Needs: CACHE (the kopfka cache folder), ROOT (the repository), a `log` function.

KOPFKA_RUNTIME=kopfka-runc

_dockerd_answers() { docker info >/dev/null 2>&1; }

_dockerd_runtime_ok() {
    local wanted="$1" default path
    default="$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" || return 1
    [[ "$default" == "$KOPFKA_RUNTIME" ]] || return 1
    path="$(docker info --format "{{with index .Runtimes \"$KOPFKA_RUNTIME\"}}{{.Path}}{{end}}" 2>/dev/null)" || return 1
    [[ "$path" == "$wanted" ]]
}

_dockerd_pid() {
    local pid
    pid="$(cat /var/run/docker.pid 2>/dev/null)" || pid=""
    [[ -z "$pid" ]] && pid="$(pgrep -x dockerd | head -1)"
    printf '%s' "$pid"
}

_start_dockerd() {
    local wrapper="$1"
    log "starting dockerd with the $KOPFKA_RUNTIME runtime (log: $CACHE/dockerd.log)"
    nohup dockerd --add-runtime "$KOPFKA_RUNTIME=$wrapper" --default-runtime "$KOPFKA_RUNTIME" \
        >"$CACHE/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        _dockerd_answers && return 0
        sleep 1
    done
    log "dockerd did not come up:"; tail -20 "$CACHE/dockerd.log" >&2; exit 1
}

ensure_dockerd() {
    mkdir -p "$CACHE/bin"
    local wrapper="$CACHE/bin/$KOPFKA_RUNTIME"
    # Installed outside the clone: a running dockerd keeps the path, and CI's clone is removed after a run.
    install -m 0755 "$ROOT/scripts/docker/kopfka-runc" "$wrapper.tmp"
    mv -f "$wrapper.tmp" "$wrapper"
    if _dockerd_answers; then
        _dockerd_runtime_ok "$wrapper" && return 0
        local pid
        pid="$(_dockerd_pid)"
        if [[ -n "$pid" && "$(readlink "/proc/$pid/fd/1" 2>/dev/null)" == "$CACHE/dockerd.log" ]]; then
            log "restarting dockerd (pid $pid, started by these scripts) to register the $KOPFKA_RUNTIME runtime"
            kill "$pid"
            for _ in $(seq 60); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 1
            done
            kill -0 "$pid" 2>/dev/null && { log "dockerd (pid $pid) did not stop"; exit 1; }
        else
            log "a dockerd${pid:+ (pid $pid)} is running without the $KOPFKA_RUNTIME runtime as its default."
            log "Privileged containers (kind's nodes) cannot start on this machine without it. Either stop that"
            log "dockerd and run this again (it starts its own), or start it with:"
            log "  dockerd --add-runtime $KOPFKA_RUNTIME=$wrapper --default-runtime $KOPFKA_RUNTIME"
            exit 1
        fi
    fi
    _start_dockerd "$wrapper"
}
