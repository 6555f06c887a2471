#!/usr/bin/env bash
# Starts distgan's roles on the hosts of HOSTS_FILE over ssh, streams their
# logs prefixed with role and host, and stops them all on Ctrl-C.
#
# Usage: deploy/ssh/launch.sh HOSTS_FILE [-- COORDINATOR_FLAGS...]
#
# HOSTS_FILE has one role per line: ROLE SSH_DESTINATION [OPTION...],
# with ROLE one of ps, coordinator, worker, and `#` comments:
#
#   ps           node1
#   coordinator  node1
#   worker       node2   threads=4
#   worker       ssh://me@node3:2222
#
# Options: addr=HOST:PORT (where the others reach a ps or the coordinator;
# default the destination's host name and port 7070 or 7071),
# listen=IP:PORT (default 0.0.0.0 and addr's port), shards=LIST (ps, see
# `distgan ps --help`), threads=N (worker), name=NAME (worker).
#
# The launcher starts the parameter servers, waits until their health
# service reports SERVING, does the same for the coordinator, then starts
# the workers. It exits with the coordinator's exit status once the
# coordinator ends, after stopping the other roles (SIGTERM, so each
# finishes its current work). Ctrl-C or SIGTERM stops every role the same
# way and exits 130. Exit status 2 means an invalid hosts file.
#
# Environment: DISTGAN_BIN (the binary on the hosts, default `distgan`),
# DISTGAN_SSH (ssh command, default `ssh -o BatchMode=yes`),
# DISTGAN_START_TIMEOUT (seconds a role may take to become healthy,
# default 300), DISTGAN_STOP_TIMEOUT (seconds to wait after SIGTERM,
# default 30). DISTGAN_LOG, DISTGAN_CONFIG, DISTGAN_DATA, DISTGAN_OUT and
# DISTGAN_THREADS are passed on to the roles that read them when set;
# give absolute paths valid on the hosts.
set -euo pipefail

ssh_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/ssh/roles.sh
. "$ssh_dir/roles.sh"

usage() {
    printf 'usage: %s HOSTS_FILE [-- COORDINATOR_FLAGS...]\n' "$0" >&2
    exit 2
}

[ "$#" -ge 1 ] || usage
hosts_file=$1
shift
if [ "$#" -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
fi
coordinator_flags=("$@")

read -ra ssh_command <<<"${DISTGAN_SSH:-ssh -o BatchMode=yes}"
binary=${DISTGAN_BIN:-distgan}
start_timeout=${DISTGAN_START_TIMEOUT:-300}
stop_timeout=${DISTGAN_STOP_TIMEOUT:-30}

parse_hosts_file "$hosts_file" || exit 2

work=$(mktemp -d "${TMPDIR:-/tmp}/distgan-launch.XXXXXX")
ssh_pids=()
prefix_pids=()
stdin_fds=()
stopping=0

# Closes the stdin of every role named ROLE and waits for them until
# DEADLINE (in $SECONDS), then closes the ssh connections still open.
stop_roles() {
    local role=$1 deadline=$2 index fd
    for index in "${!role_names[@]}"; do
        [ "${role_names[index]}" = "$role" ] || continue
        fd=${stdin_fds[index]:-}
        if [ -n "$fd" ]; then
            exec {fd}>&-
            stdin_fds[index]=
        fi
    done
    for index in "${!ssh_pids[@]}"; do
        [ "${role_names[index]}" = "$role" ] || continue
        while kill -0 "${ssh_pids[index]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.2
        done
        if kill -0 "${ssh_pids[index]}" 2>/dev/null; then
            printf 'launch: %s did not stop within %ss; closing its ssh connection\n' \
                "${role_labels[index]}" "$stop_timeout" >&2
            kill "${ssh_pids[index]}" 2>/dev/null || true
        fi
    done
}

# Stops the workers first and the parameter servers last, so that no role
# loses a peer while it still has work in flight.
stop_all() {
    stopping=1
    local deadline=$((SECONDS + stop_timeout))
    stop_roles worker "$deadline"
    stop_roles coordinator "$deadline"
    stop_roles ps "$deadline"
    if [ "${#prefix_pids[@]}" -gt 0 ]; then
        wait "${prefix_pids[@]}" 2>/dev/null || true
    fi
}

on_exit() {
    local status=$?
    trap - EXIT INT TERM
    [ "$stopping" -eq 1 ] || stop_all
    rm -rf "$work"
    exit "$status"
}
trap on_exit EXIT
trap 'printf "launch: stopping every role\n" >&2; stop_all; exit 130' INT TERM

# Starts role INDEX. Its stdin stays open until stop_all closes it.
start_role() {
    local index=$1
    local label=${role_labels[index]}
    mkfifo "$work/$index.in" "$work/$index.out"
    # Ctrl-C reaches the whole foreground process group. The log relay
    # ignores it, and ssh runs in a session of its own, so both live on
    # until stop_all has stopped the role and its last lines are out.
    (
        trap '' INT TERM
        prefix_lines "$label"
    ) <"$work/$index.out" &
    prefix_pids[index]=$!
    setsid "${ssh_command[@]}" "${role_destinations[index]}" "$(remote_command "$index")" \
        <"$work/$index.in" >"$work/$index.out" 2>&1 &
    ssh_pids[index]=$!
    local fd
    exec {fd}>"$work/$index.in"
    stdin_fds[index]=$fd
}

# Polls the health service of role INDEX from its own host until it
# reports SERVING. Returns the role's exit status when it exits first
# (1 if that was 0), and 1 when the timeout passes.
wait_healthy() {
    local index=$1
    local deadline=$((SECONDS + start_timeout))
    local probe
    probe="$(quote "$binary") health --addr $(quote "${role_addresses[index]}") --timeout-ms 2000"
    until "${ssh_command[@]}" "${role_destinations[index]}" "$probe" </dev/null >/dev/null 2>&1; do
        if ! kill -0 "${ssh_pids[index]}" 2>/dev/null; then
            local status=0
            wait "${ssh_pids[index]}" || status=$?
            printf 'launch: %s exited with status %s before it was healthy\n' "${role_labels[index]}" "$status" >&2
            return $((status == 0 ? 1 : status))
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf 'launch: %s not healthy after %ss\n' "${role_labels[index]}" "$start_timeout" >&2
            return 1
        fi
        sleep 1
    done
    printf 'launch: %s is serving at %s\n' "${role_labels[index]}" "${role_addresses[index]}" >&2
}

for role_name in ps coordinator worker; do
    for index in "${!role_names[@]}"; do
        [ "${role_names[index]}" = "$role_name" ] || continue
        start_role "$index"
        if [ "$role_name" != worker ]; then
            wait_healthy "$index" || exit $?
        fi
    done
done

status=0
wait "${ssh_pids[coordinator_index]}" || status=$?
printf 'launch: coordinator exited with status %s; stopping the other roles\n' "$status" >&2
stop_all
exit "$status"
