#!/usr/bin/env bash
# Tests deploy/slurm/distgan.sbatch on a one-node Slurm cluster made here
# from Debian's packages (slurm-wlm, munge).
#
# munged, slurmctld and slurmd run from a temporary folder with their own
# key, sockets, free ports and state, on 127.0.0.1; SLURM_CONF points the
# Slurm commands at them. Then:
# 1. a short run with 2 workers completes with exit code 0 and leaves
#    its checkpoint and eval.json;
# 2. a long run with a 3-minute time limit gets SIGTERM from Slurm (the
#    --signal option) and stops every role before the limit: exit code
#    130, not TIMEOUT, and each role logs its stop;
# 3. submitting the script again on that run folder resumes from its
#    newest checkpoint and completes.
# Every wait is bounded; jobs and daemons are stopped by id on exit.
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$deploy_dir")
# shellcheck source=deploy/lib.sh
. "$deploy_dir/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/distgan-slurm-test.XXXXXX")
chmod 700 "$work"
daemon_pids=()
job_ids=()
passed=0
failed=0

finish() {
    local status=$?
    trap - EXIT INT TERM
    local job pid
    for job in "${job_ids[@]}"; do
        scancel "$job" 2>/dev/null || true
    done
    # slurmd, then slurmctld, then munged, which both of them need.
    for ((index = ${#daemon_pids[@]} - 1; index >= 0; index--)); do
        pid=${daemon_pids[index]}
        kill -TERM "$pid" 2>/dev/null || true
        wait_until 30 0.2 "daemon $pid to stop" bash -c "! kill -0 $pid 2>/dev/null" ||
            kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] || [ "$failed" -gt 0 ]; then
        for log_file in "$work"/job-*.out "$work"/slurmctld.log "$work"/slurmd.log; do
            [ -f "$log_file" ] || continue
            printf '==== %s (last 60 lines)\n' "$(basename "$log_file")" >&2
            tail -n 60 "$log_file" >&2
        done
    fi
    rm -rf "$work"
    printf 'test-slurm: %d passed, %d failed\n' "$passed" "$failed"
    if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- a one-node cluster -----------------------------------------------------

ensure_packages slurm-wlm munge
binary=${DISTGAN_BINARY:-$(build_release_binary "$repo")}
node=$(hostname -s)
mkdir -p "$work/munge" "$work/state" "$work/spool"
chmod 700 "$work/munge"

mungekey --create --keyfile="$work/munge/munge.key"
munged --force --socket="$work/munge/socket" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed"
wait_until 10 0.2 "munged" test -s "$work/munge/munged.pid" || die "munged did not start"
daemon_pids+=("$(cat "$work/munge/munged.pid")")

memory_mb=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
cat >"$work/slurm.conf" <<EOF
ClusterName=distgan-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
SlurmUser=$(id -un)
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory_mb State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf

slurmctld -D >"$work/slurmctld.out" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$node" >"$work/slurmd.out" 2>&1 &
daemon_pids+=($!)
node_idle() {
    [ "$(sinfo --noheader --format '%T' 2>/dev/null)" = idle ]
}
wait_until 60 0.5 "the Slurm node to be idle" node_idle || die "the one-node Slurm cluster did not start"
log "Slurm cluster up: node $node, SLURM_CONF=$SLURM_CONF"

# ---- helpers -----------------------------------------------------------------

job_field() {
    scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

job_done() {
    case $(job_field "$1" JobState) in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) return 0 ;;
        *) return 1 ;;
    esac
}

# Submits the script with the test's environment; prints the job id.
# Usage: submit NAME RUN_DIR CONFIG SBATCH_OPTIONS... [-- COORDINATOR_FLAGS...]
submit() {
    local name=$1 run_dir=$2 config=$3
    shift 3
    local -a options=() flags=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
        options+=("$1")
        shift
    done
    [ "$#" -gt 0 ] && shift
    flags=("$@")
    DISTGAN_BIN=$binary DISTGAN_DATA=$repo/data/mnist DISTGAN_OUT=$run_dir DISTGAN_CONFIG=$config \
        DISTGAN_THREADS=1 DISTGAN_HEAD_ADDR=127.0.0.1 DISTGAN_LISTEN_HOST=127.0.0.1 \
        DISTGAN_PS_PORT=$(free_port) DISTGAN_COORDINATOR_PORT=$(free_port) DISTGAN_START_TIMEOUT=120 \
        sbatch --parsable --chdir="$work" --output="$work/job-$name.out" "${options[@]}" \
        "$deploy_dir/slurm/distgan.sbatch" "${flags[@]}"
}

# ---- 1. a short run -----------------------------------------------------------

cat >"$work/short.toml" <<EOF
steps = 20
seed = 5
batch = 100
micro_batches = 2
train_images = 1000
eval_samples = 200
EOF
job=$(submit short "$work/short-run" "$work/short.toml" --nodes=1 --ntasks-per-node=2 --time=10)
job_ids+=("$job")
log "short run: job $job"
wait_until 300 1 "job $job to end" job_done "$job" || die "job $job did not end within 300s"
check "short job completed" test "$(job_field "$job" JobState)" = COMPLETED
check "short job exit code 0:0" test "$(job_field "$job" ExitCode)" = 0:0
check "both workers joined" bash -c "[ \$(grep -c 'worker joined' '$work/job-short.out') -eq 2 ]"
check "final checkpoint and eval.json written" \
    test -s "$work/short-run/checkpoints/step-00000020/generator.safetensors" -a -s "$work/short-run/eval.json"

# ---- 2. SIGTERM before the time limit ----------------------------------------

cat >"$work/long.toml" <<EOF
steps = 100000
seed = 5
batch = 100
micro_batches = 2
train_images = 1000
checkpoint_every = 20
sample_every = 0
evaluate = false
EOF
# Slurm's sbatch manual says the signal may come up to 60 s before the
# requested time. With a 3-minute limit and 100 s, it comes 20 to 80 s
# into the job, after the roles started, and leaves them 100 s to stop.
job=$(submit limit "$work/long-run" "$work/long.toml" --nodes=1 --ntasks-per-node=2 --time=3 --signal=B:TERM@100)
job_ids+=("$job")
log "time-limited run: job $job"
wait_until 240 1 "job $job to end" job_done "$job" || die "job $job did not end within 240s"
state=$(job_field "$job" JobState)
check "time-limited job stopped before its limit (state $state, not TIMEOUT)" test "$state" = FAILED
check "time-limited job exit code 130:0" test "$(job_field "$job" ExitCode)" = 130:0
check "script received SIGTERM" grep -q 'SIGTERM received' "$work/job-limit.out"
check "coordinator cancelled training" grep -q 'training cancelled' "$work/job-limit.out"
check "both workers stopped" bash -c "[ \$(grep -c 'worker stopped' '$work/job-limit.out') -eq 2 ]"
check "parameter server stopped" grep -q 'parameter server stopped' "$work/job-limit.out"

# ---- 3. resubmitted, it resumes -------------------------------------------------

newest=$(find "$work/long-run/checkpoints" -name manifest.json -printf '%h\n' 2>/dev/null | sort | tail -n 1)
check "stopped run left a checkpoint" test -n "$newest"
if [ -n "$newest" ]; then
    resume_step=$((10#${newest##*step-}))
    log "newest checkpoint: step $resume_step"
    job=$(submit resume "$work/long-run" "$work/long.toml" --nodes=1 --ntasks-per-node=2 --time=10 \
        -- --steps $((resume_step + 10)))
    job_ids+=("$job")
    wait_until 300 1 "job $job to end" job_done "$job" || die "job $job did not end within 300s"
    check "resubmitted job completed" test "$(job_field "$job" JobState)" = COMPLETED
    check "resubmitted job resumed from step $resume_step" \
        grep -q "resuming from checkpoint.*step=$resume_step" "$work/job-resume.out"
    check "resumed run wrote step $((resume_step + 10))" \
        test -s "$work/long-run/checkpoints/$(printf 'step-%08d' $((resume_step + 10)))/generator.safetensors"
fi
