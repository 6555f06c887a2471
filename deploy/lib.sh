# Shell helpers shared by the deploy scripts and their tests.
# Source it; it defines functions and sets nothing else. `check` counts
# into the variables `passed` and `failed`, which the test initialises.

# Prints a progress line on stderr with the elapsed seconds of the script.
log() {
    printf '[%5ds] %s\n' "$SECONDS" "$*" >&2
}

# Prints an error and exits with status 1.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Installs Debian packages that are not installed yet.
# Usage: ensure_packages PACKAGE...
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed'; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; install them or run as root"
    log "installing ${missing[*]}"
    # Debian starts a package's service on install (sshd on port 22,
    # slurmctld). A policy-rc.d that exits 101 prevents that, because the
    # tests start their own daemons on the loopback address.
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local status=0
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || status=$?
    if [ "$own_policy" -eq 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    [ "$status" -eq 0 ] || die "apt-get install ${missing[*]} failed with status $status"
}

# Runs a command every INTERVAL seconds until it succeeds; fails after
# TIMEOUT seconds. Usage: wait_until TIMEOUT INTERVAL DESCRIPTION COMMAND...
wait_until() {
    local timeout=$1 interval=$2 what=$3
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf 'error: timed out after %ss waiting for %s\n' "$timeout" "$what" >&2
            return 1
        fi
        sleep "$interval"
    done
}

# Prints the folder cargo builds into.
cargo_target_dir() {
    local repo=$1
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        printf '%s\n' "$CARGO_TARGET_DIR"
    else
        printf '%s/target\n' "$repo"
    fi
}

# Builds the release binary and prints its path.
build_release_binary() {
    local repo=$1
    log "building the release binary"
    (cd "$repo" && cargo build --release --locked --bin distgan) >&2
    printf '%s/release/distgan\n' "$(cargo_target_dir "$repo")"
}

# Compares two files byte for byte; prints which differ. Returns 1 on a
# difference. Usage: same_bytes FILE_A FILE_B
same_bytes() {
    if cmp -s "$1" "$2"; then
        return 0
    fi
    printf 'differ: %s %s\n' "$1" "$2" >&2
    return 1
}

# Runs COMMAND and counts it as a passed or failed check named WHAT.
# Usage: check WHAT COMMAND...
check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        log "ok: $what"
    else
        failed=$((failed + 1))
        log "FAILED: $what"
    fi
}

# Prints a TCP port on 127.0.0.1 that is free at the time of the call.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
