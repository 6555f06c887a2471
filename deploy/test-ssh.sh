#!/usr/bin/env bash
# Tests deploy/ssh/launch.sh against an sshd of its own on 127.0.0.1.
#
# The sshd runs with a throwaway host key and accepts one throwaway user
# key. Three ssh host aliases (node-a, node-b, node-c) all lead to it, so
# the launcher goes through real ssh sessions for every role:
# 1. an invalid hosts file exits 2 with the line named, and so do invalid
#    run settings, with the coordinator's exit status;
# 2. a short run finishes: exit 0, every role's log streamed with its
#    prefix, both workers joined, the run folder complete, no role left;
# 3. SIGTERM to the launcher's process group (handled like Ctrl-C's SIGINT) in the
#    middle of a long run stops every role: exit 130, no role left.
# Every wait is bounded; the sshd and any role still running are stopped
# by pid on exit.
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$deploy_dir")
# shellcheck source=deploy/lib.sh
. "$deploy_dir/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/distgan-ssh-test.XXXXXX")
sshd_pid=
launcher_pid=
passed=0
failed=0

# Pids of the roles the launcher started, from their "started pid N" lines.
role_pids() {
    cat "$work"/launch-*.log 2>/dev/null | sed -n 's/.*started pid \([0-9]*\) on .*/\1/p'
}

finish() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    if [ -n "$launcher_pid" ] && kill -0 "$launcher_pid" 2>/dev/null; then
        kill -TERM "$launcher_pid" 2>/dev/null || true
    fi
    for pid in $(role_pids); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "$sshd_pid" ]; then
        kill -TERM "$sshd_pid" 2>/dev/null || true
        wait "$sshd_pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] || [ "$failed" -gt 0 ]; then
        for log_file in "$work"/launch-*.log "$work/sshd.log"; do
            [ -f "$log_file" ] || continue
            printf '==== %s (last 60 lines)\n' "$(basename "$log_file")" >&2
            tail -n 60 "$log_file" >&2
        done
    fi
    rm -rf "$work"
    printf 'test-ssh: %d passed, %d failed\n' "$passed" "$failed"
    if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

no_role_left() {
    local pid
    for pid in $(role_pids); do
        if kill -0 "$pid" 2>/dev/null; then
            printf 'role pid %s still runs\n' "$pid" >&2
            return 1
        fi
    done
    [ -n "$(role_pids)" ]
}

# ---- sshd on the loopback address -----------------------------------------

ensure_packages openssh-client openssh-server

binary=${DISTGAN_BINARY:-$(build_release_binary "$repo")}
user=$(id -un)
ssh_port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
cp "$work/user_key.pub" "$work/authorized_keys"
printf '[127.0.0.1]:%s %s\n' "$ssh_port" "$(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"

cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
AllowUsers $user
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
EOF
cat >"$work/ssh_config" <<EOF
Host node-a node-b node-c
    HostName 127.0.0.1
    Port $ssh_port
    User $user
    IdentityFile $work/user_key
    IdentitiesOnly yes
    UserKnownHostsFile $work/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    LogLevel ERROR
EOF

# sshd's privilege separation needs this folder when it runs as root.
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
wait_until 30 0.2 "sshd on 127.0.0.1:$ssh_port" \
    ssh -F "$work/ssh_config" node-a true </dev/null || die "sshd did not accept the test key"
log "sshd (pid $sshd_pid) listening on 127.0.0.1:$ssh_port"

export DISTGAN_SSH="ssh -F $work/ssh_config"
export DISTGAN_BIN=$binary
export DISTGAN_DATA=$repo/data/mnist
export DISTGAN_THREADS=1
export DISTGAN_START_TIMEOUT=120
export DISTGAN_STOP_TIMEOUT=30
unset DISTGAN_LOG
ps_port=$(free_port)
coordinator_port=$(free_port)
cat >"$work/hosts" <<EOF
# role        destination   options
ps            node-a        addr=127.0.0.1:$ps_port listen=127.0.0.1:$ps_port
coordinator   node-a        addr=127.0.0.1:$coordinator_port listen=127.0.0.1:$coordinator_port
worker        node-b
worker        node-c
EOF

# ---- 1. invalid hosts file ------------------------------------------------

printf 'ps node-a\nscheduler node-a\n' >"$work/bad-hosts"
status=0
"$deploy_dir/ssh/launch.sh" "$work/bad-hosts" >"$work/bad.out" 2>&1 || status=$?
check "invalid hosts file exits 2" test "$status" -eq 2
check "invalid hosts file error names the line" grep -q "line 2: unknown role 'scheduler'" "$work/bad.out"

printf 'batch = 100\nmicro_batches = 3\n' >"$work/invalid.toml"
status=0
DISTGAN_CONFIG=$work/invalid.toml DISTGAN_OUT=$work/invalid-run timeout 120 \
    "$deploy_dir/ssh/launch.sh" "$work/hosts" >"$work/launch-invalid.log" 2>&1 || status=$?
check "invalid run settings exit 2, the coordinator's status" test "$status" -eq 2
check "no role left after the invalid settings" no_role_left

# ---- 2. a short run --------------------------------------------------------

cat >"$work/short.toml" <<EOF
steps = 20
seed = 3
batch = 100
micro_batches = 2
train_images = 1000
eval_samples = 200
EOF
log "short run over ssh"
status=0
DISTGAN_CONFIG=$work/short.toml DISTGAN_OUT=$work/short-run timeout 600 \
    "$deploy_dir/ssh/launch.sh" "$work/hosts" >"$work/launch-short.log" 2>&1 || status=$?
check "short run exits 0" test "$status" -eq 0
for prefix in ps@node-a coordinator@node-a worker@node-b worker@node-c; do
    check "log lines of $prefix are streamed" grep -q "^\[$prefix\] " "$work/launch-short.log"
done
check "both workers joined" bash -c "[ \$(grep -c 'worker joined.*name=\"node-[bc]-' '$work/launch-short.log') -eq 2 ]"
check "run folder has the final checkpoint and eval.json" \
    test -s "$work/short-run/checkpoints/step-00000020/generator.safetensors" -a -s "$work/short-run/eval.json"
check "no role left after the run" no_role_left

# ---- 3. Ctrl-C in the middle of a long run ---------------------------------

cat >"$work/long.toml" <<EOF
steps = 100000
seed = 3
batch = 100
micro_batches = 2
train_images = 1000
evaluate = false
EOF
log "long run over ssh, stopped with SIGTERM"
# Job control puts the launcher in its own process group. The test sends
# SIGTERM, which the launcher handles exactly as Ctrl-C's SIGINT: a shell
# started in the background of a non-interactive shell (as some CI
# runners start this script) inherits SIGINT ignored, and bash cannot
# trap a signal ignored at its start.
set -m
DISTGAN_CONFIG=$work/long.toml DISTGAN_OUT=$work/long-run \
    "$deploy_dir/ssh/launch.sh" "$work/hosts" >"$work/launch-long.log" 2>&1 &
launcher_pid=$!
set +m
wait_until 120 0.5 "both workers to join" \
    bash -c "[ \$(grep -c 'worker joined' '$work/launch-long.log') -ge 2 ]" || die "workers did not join the long run"
kill -TERM -- "-$launcher_pid"
status=0
wait_until 90 0.5 "the launcher to stop" bash -c "! kill -0 $launcher_pid 2>/dev/null" || status=timeout
if [ "$status" != timeout ]; then
    wait "$launcher_pid" || status=$?
fi
launcher_pid=
check "launcher exits 130 after SIGTERM" test "$status" = 130
check "launcher reported the stop" grep -q 'launch: stopping every role' "$work/launch-long.log"
check "coordinator cancelled training" grep -q '^\[coordinator@node-a\] .*training cancelled' "$work/launch-long.log"
check "workers stopped cleanly" bash -c "[ \$(grep -c '^\[worker@node-[bc]\] .*worker stopped' '$work/launch-long.log') -eq 2 ]"
check "parameter server stopped" grep -q '^\[ps@node-a\] .*parameter server stopped' "$work/launch-long.log"
check "no role left after SIGTERM" no_role_left
