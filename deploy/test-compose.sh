#!/usr/bin/env bash
# End-to-end test of deploy/docker-compose.yml on the local Docker engine.
#
# 1. Builds the image without a registry (deploy/build-image.sh).
# 2. Starts the parameter server, the coordinator and 3 workers for a short
#    MNIST run with the networks of Goodfellow et al. (2014).
# 3. A quarter into the run, stops one worker with `docker kill` and checks
#    that training goes on without it. Docker counts `docker kill` as a
#    manual stop and does not apply the restart policy, so the test starts
#    the container again, as an operator would, and checks that it rejoins.
#    Then it kills a second worker's process from the host (a crash, as
#    the kernel's OOM killer does it) and checks that the restart policy
#    brings it back and that it rejoins and computes tasks.
# 4. Waits for the run to finish, checks the run folder on the volume, and
#    compares the final parameters bitwise with `distgan train` on the host
#    with the same settings.
# 5. Removes every container, network and volume it made, also on failure,
#    printing the containers' logs first when a check failed.
#
# Every wait is bounded. Environment:
#   TEST_STEPS  steps of the run, default 300 (at least 100, so the
#               restarted workers rejoin before the end)
#   KEEP_LOGS   folder to copy the containers' logs into, default none
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$deploy_dir")
# shellcheck source=deploy/lib.sh
. "$deploy_dir/lib.sh"

steps=${TEST_STEPS:-300}
[ "$steps" -ge 100 ] || die "TEST_STEPS=$steps is too short for the kill test; use at least 100"
image=distgan:latest
project=distgan-test-$$
work=$(mktemp -d "${TMPDIR:-/tmp}/distgan-compose-test.XXXXXX")
passed=0
failed=0

if command -v docker-compose >/dev/null 2>&1; then
    compose_bin=(docker-compose)
else
    compose_bin=(docker compose)
fi
compose() {
    "${compose_bin[@]}" -p "$project" -f "$deploy_dir/docker-compose.yml" "$@"
}

pass() {
    passed=$((passed + 1))
    log "ok: $*"
}

fail() {
    failed=$((failed + 1))
    log "FAILED: $*"
}

# Ends the test at a failed step that later steps depend on.
fatal() {
    fail "$*"
    exit 1
}

project_objects() {
    local label=com.docker.compose.project=$project
    docker ps -aq --filter "label=$label"
    docker network ls -q --filter "label=$label"
    docker volume ls -q --filter "label=$label"
}

print_logs() {
    log "container logs of $project:"
    timeout 60 "${compose_bin[@]}" -p "$project" -f "$deploy_dir/docker-compose.yml" \
        logs --no-color --timestamps --tail 200 >&2 || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" -ne 0 ] || [ "$failed" -gt 0 ]; then
        print_logs
    fi
    if [ -n "${KEEP_LOGS:-}" ]; then
        mkdir -p "$KEEP_LOGS"
        timeout 60 "${compose_bin[@]}" -p "$project" -f "$deploy_dir/docker-compose.yml" \
            logs --no-color --timestamps >"$KEEP_LOGS/compose.log" 2>&1 || true
    fi
    log "removing the stack"
    timeout 120 "${compose_bin[@]}" -p "$project" -f "$deploy_dir/docker-compose.yml" \
        down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    local left
    left=$(project_objects)
    if [ -n "$left" ]; then
        printf 'error: left behind by %s: %s\n' "$project" "$left" >&2
        failed=$((failed + 1))
        status=1
    fi
    rm -rf "$work"
    printf 'test-compose: %d passed, %d failed\n' "$passed" "$failed"
    if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers that read the coordinator's log ------------------------------

container_of() {
    docker ps -aq --filter "label=com.docker.compose.project=$project" \
        --filter "label=com.docker.compose.service=$1"
}

coordinator_log() {
    docker logs "$(container_of coordinator)" 2>&1
}

# The last step the coordinator finished (debug log of the step driver), or -1.
last_step() {
    coordinator_log | sed -n 's/.*step done step=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo -1
}

step_at_least() {
    [ "$(last_step)" -ge "$1" ]
}

# Lines of the coordinator log about worker NAME and EVENT (joined, lost).
worker_events() {
    coordinator_log | grep -F "name=\"$1\"" | grep -F "worker $2" || true
}

joined_at_least() {
    [ "$(coordinator_log | grep -c 'worker joined')" -ge "$1" ]
}

event_count_at_least() {
    [ "$(worker_events "$1" "$2" | wc -l)" -ge "$3" ]
}

# Seconds since the epoch of the timestamp that opens a log line.
line_time() {
    date -d "$(printf '%s\n' "$1" | awk '{print $1}')" +%s.%N
}

seconds_between() {
    awk -v from="$1" -v to="$2" 'BEGIN { printf "%.1f", to - from }'
}

# ---- 1. image --------------------------------------------------------------

command -v docker >/dev/null 2>&1 || die "docker is not installed"
timeout 60 docker info >/dev/null 2>&1 || die "the Docker daemon does not respond; start it (systemctl start docker)"
build_started=$SECONDS
timeout 1800 "$deploy_dir/build-image.sh" "$image" || fatal "image build without a registry"
pass "image $image built without a registry in $((SECONDS - build_started))s"

# ---- 2. stack --------------------------------------------------------------

cat >"$work/test.toml" <<EOF
# A short run of the default (MNIST paper) networks on 2000 training images.
steps = $steps
seed = 7
batch = 100
micro_batches = 4
train_images = 2000
eval_samples = 500
sample_every = 50
checkpoint_every = 50
EOF

export DISTGAN_IMAGE=$image
export DISTGAN_CONFIG=$work/test.toml
export DISTGAN_DATA=$repo/data/mnist
export DISTGAN_THREADS=1
export DISTGAN_LOG=info,distgan::coordinator::driver=debug

log "starting $project with 3 workers for $steps steps"
run_started=$(date +%s.%N)
timeout 300 "${compose_bin[@]}" -p "$project" -f "$deploy_dir/docker-compose.yml" \
    up -d --scale worker=3 >"$work/up.log" 2>&1 || {
    cat "$work/up.log" >&2
    fatal "docker-compose up"
}
mapfile -t workers < <(container_of worker)
[ "${#workers[@]}" -eq 3 ] || fatal "expected 3 worker containers, found ${#workers[@]}"
wait_until 120 1 "3 workers to join" joined_at_least 3 || fatal "3 workers joined the job"
pass "stack healthy and 3 workers joined"

# ---- 3a. docker kill, then start again -------------------------------------

kill_at=$((steps / 4))
wait_until 600 1 "step $kill_at" step_at_least "$kill_at" || fatal "training reached step $kill_at"

stopped=${workers[0]}
stopped_name=$(docker inspect -f '{{.Config.Hostname}}' "$stopped")
killed_at_step=$(last_step)
kill_time=$(date +%s.%N)
docker kill "$stopped" >/dev/null
log "docker kill of worker $stopped_name at step $killed_at_step"

wait_until 60 1 "the coordinator to declare $stopped_name lost" \
    event_count_at_least "$stopped_name" lost 1 || fatal "killed worker declared lost"
lost_step=$(last_step)
lost_line=$(worker_events "$stopped_name" lost | head -n 1)
lost_after=$(seconds_between "$kill_time" "$(line_time "$lost_line")")
if wait_until 120 1 "5 steps without $stopped_name" step_at_least $((lost_step + 5)); then
    pass "training went on without the killed worker (lost after ${lost_after}s, step $lost_step -> $(last_step))"
else
    fatal "training went on without the killed worker"
fi

state=$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$stopped")
log "after docker kill Docker left the worker at: $state (a manual stop, no automatic restart)"
start_time=$(date +%s.%N)
docker start "$stopped" >/dev/null
if wait_until 60 0.5 "$stopped_name to rejoin" event_count_at_least "$stopped_name" joined 2; then
    join_line=$(worker_events "$stopped_name" joined | tail -n 1)
    stopped_rejoin=$(seconds_between "$start_time" "$(line_time "$join_line")")
    pass "worker stopped by docker kill rejoined ${stopped_rejoin}s after docker start"
else
    fail "worker stopped by docker kill rejoined after docker start"
fi

# ---- 3b. crash, restarted by the restart policy -----------------------------

crashed=${workers[1]}
crashed_name=$(docker inspect -f '{{.Config.Hostname}}' "$crashed")
crash_pid=$(docker inspect -f '{{.State.Pid}}' "$crashed")
crashed_at_step=$(last_step)
crash_time=$(date +%s.%N)
kill -KILL "$crash_pid"
log "killed the process of worker $crashed_name (pid $crash_pid) at step $crashed_at_step"

if wait_until 60 0.5 "$crashed_name to rejoin" event_count_at_least "$crashed_name" joined 2; then
    join_line=$(worker_events "$crashed_name" joined | tail -n 1)
    crash_rejoin=$(seconds_between "$crash_time" "$(line_time "$join_line")")
    restarts=$(docker inspect -f '{{.RestartCount}}' "$crashed")
    if [ "$restarts" -ge 1 ]; then
        pass "crashed worker restarted by its restart policy and rejoined ${crash_rejoin}s after the kill"
    else
        fail "crashed worker restarted by its restart policy (RestartCount $restarts)"
    fi
else
    fail "crashed worker restarted by its restart policy and rejoined"
fi

# ---- 4. the end of the run ---------------------------------------------------

coordinator=$(container_of coordinator)
code=$(timeout 900 docker wait "$coordinator") || fatal "coordinator finished within 900s"
run_seconds=$(seconds_between "$run_started" "$(date +%s.%N)")
[ "$code" -eq 0 ] || fatal "coordinator exited with status $code"
pass "run of $steps steps finished in ${run_seconds}s (docker-compose up to coordinator exit)"

# Each worker exits 0 once it learns that the job finished. A restarted
# worker that computed no task rejoined too late to show anything.
for worker in "${workers[@]}"; do
    code=$(timeout 60 docker wait "$worker") || fatal "worker $worker stopped within 60s of the coordinator"
    [ "$code" -eq 0 ] || fail "worker $worker exited with status $code"
done
for worker in "$stopped" "$crashed"; do
    tasks=$(docker logs "$worker" 2>&1 | sed -n 's/.*worker stopped .*tasks=\([0-9]*\).*/\1/p' | tail -n 1)
    if [ "${tasks:-0}" -gt 0 ]; then
        pass "restarted worker $(docker inspect -f '{{.Config.Hostname}}' "$worker") computed $tasks tasks after rejoining"
    else
        fail "restarted worker $worker computed tasks after rejoining (raise TEST_STEPS)"
    fi
done

final=$(printf 'step-%08d' "$steps")
timeout 120 docker cp "$coordinator:/runs/mnist" "$work/compose-run" || fatal "copy of the run folder from the volume"
missing=()
for file in config.toml metrics.jsonl eval.json "samples/$final.png" \
    "checkpoints/$final/manifest.json" "checkpoints/$final/generator.safetensors" \
    "checkpoints/$final/discriminator.safetensors" "checkpoints/$final/optimizer.safetensors"; do
    [ -s "$work/compose-run/$file" ] || missing+=("$file")
done
metric_lines=$(wc -l <"$work/compose-run/metrics.jsonl" 2>/dev/null || echo 0)
if [ "${#missing[@]}" -eq 0 ] && [ "$metric_lines" -eq "$steps" ] &&
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert "test_mean" in r' \
        "$work/compose-run/eval.json"; then
    pass "run folder on the volume has metrics ($metric_lines lines), samples, checkpoint $final and eval.json"
else
    fail "run folder on the volume is complete (missing: ${missing[*]:-none}, metrics lines $metric_lines of $steps)"
fi

# ---- 4b. the same run on the host -------------------------------------------

binary=$(build_release_binary "$repo")
log "running the same settings with distgan train on the host"
host_started=$SECONDS
timeout 900 "$binary" train --config "$work/test.toml" --data "$repo/data/mnist" \
    --out "$work/host-run" --workers 3 >"$work/host.log" 2>&1 || {
    tail -n 40 "$work/host.log" >&2
    fatal "distgan train on the host"
}
log "host run took $((SECONDS - host_started))s"
different=()
for file in generator discriminator optimizer; do
    same_bytes "$work/compose-run/checkpoints/$final/$file.safetensors" \
        "$work/host-run/checkpoints/$final/$file.safetensors" || different+=("$file")
done
if [ "${#different[@]}" -eq 0 ]; then
    pass "final generator, discriminator and optimizer state bitwise equal to the host run"
else
    fail "final parameters bitwise equal to the host run (different: ${different[*]})"
fi

log "summary: run ${run_seconds}s; docker kill -> lost after ${lost_after}s;" \
    "rejoin ${stopped_rejoin:-n/a}s after docker start; crash -> rejoin ${crash_rejoin:-n/a}s"
