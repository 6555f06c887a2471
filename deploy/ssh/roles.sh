# The hosts file and the remote commands of deploy/ssh/launch.sh.
# Source it; parse_hosts_file fills the role_* arrays that the other
# functions read.

# Runs on each host under `sh -c`: starts the role, prints its pid, and
# sends it SIGTERM when the ssh connection's stdin closes (the launcher
# stopping, or the connection dropping). Exits with the role's status.
# Asynchronous commands of a non-interactive sh read /dev/null unless
# redirected, hence the copy of stdin on fd 3.
remote_wrapper='exec 3<&0
"$@" </dev/null &
pid=$!
echo "started pid $pid on $(hostname)" >&2
( while read -r _ <&3; do :; done; kill -TERM "$pid" 2>/dev/null ) <&3 &
watcher=$!
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"'

# Prints ARG quoted for a POSIX shell.
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# Prints each input line prefixed with [LABEL].
prefix_lines() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        printf '[%s] %s\n' "$1" "$line"
    done
}

# The host name in an ssh destination (`host`, `user@host`,
# `ssh://user@host:port`).
destination_host() {
    local host=${1#ssh://}
    host=${host#*@}
    printf '%s\n' "${host%%:*}"
}

hosts_error() {
    printf 'error: %s line %s: %s\n' "$hosts_file" "$line_number" "$*" >&2
    return 1
}

# Reads HOSTS_FILE into role_names, role_destinations, role_addresses,
# role_listens, role_shards, role_threads, role_worker_names, role_labels
# and coordinator_index. Fails with a message naming the line.
parse_hosts_file() {
    hosts_file=$1
    [ -r "$hosts_file" ] || { printf 'error: cannot read hosts file %s\n' "$hosts_file" >&2; return 1; }
    role_names=() role_destinations=() role_addresses=() role_listens=()
    role_shards=() role_threads=() role_worker_names=() role_labels=()
    coordinator_index=
    line_number=0
    worker_count=0

    local role destination options
    while read -r role destination options || [ -n "$role" ]; do
        line_number=$((line_number + 1))
        case $role in '' | '#'*) continue ;; esac
        add_role "$role" "$destination" "$options" || return 1
    done <"$hosts_file"

    [ -n "$coordinator_index" ] || { printf 'error: %s has no coordinator line\n' "$hosts_file" >&2; return 1; }
    [ "$worker_count" -gt 0 ] || { printf 'error: %s has no worker line\n' "$hosts_file" >&2; return 1; }
    local role_name
    for role_name in "${role_names[@]}"; do
        [ "$role_name" = ps ] && return 0
    done
    printf 'error: %s has no ps line\n' "$hosts_file" >&2
    return 1
}

# Appends the role of one hosts-file line: ROLE DESTINATION OPTIONS.
add_role() {
    local role=$1 destination=$2 options=$3
    [ -n "$destination" ] || { hosts_error "role $role has no ssh destination"; return 1; }
    local index=${#role_names[@]} default_port=
    case $role in
        ps) default_port=7070 ;;
        coordinator)
            default_port=7071
            [ -z "$coordinator_index" ] || { hosts_error "a second coordinator; a job has exactly one"; return 1; }
            coordinator_index=$index
            ;;
        worker) ;;
        *) hosts_error "unknown role '$role'; use ps, coordinator or worker"; return 1 ;;
    esac
    role_names[index]=$role
    role_destinations[index]=$destination
    role_addresses[index]=${default_port:+$(destination_host "$destination"):$default_port}
    role_listens[index]= role_shards[index]= role_threads[index]= role_worker_names[index]=
    role_labels[index]="$role@$(destination_host "$destination")"

    local -a option_list
    local option key value
    read -ra option_list <<<"$options"
    for option in "${option_list[@]}"; do
        case $option in '#'*) break ;; esac
        key=${option%%=*} value=${option#*=}
        if [ "$key" = "$option" ] || [ -z "$value" ]; then
            hosts_error "option '$option' is not KEY=VALUE"
            return 1
        fi
        case $role/$key in
            ps/addr | coordinator/addr) role_addresses[index]=$value ;;
            ps/listen | coordinator/listen) role_listens[index]=$value ;;
            ps/shards) role_shards[index]=$value ;;
            worker/threads) role_threads[index]=$value ;;
            worker/name) role_worker_names[index]=$value ;;
            *) hosts_error "option '$key' does not apply to role $role"; return 1 ;;
        esac
    done

    if [ "$role" = worker ]; then
        worker_count=$((worker_count + 1))
        role_worker_names[index]=${role_worker_names[index]:-$(destination_host "$destination")-$worker_count}
    else
        role_listens[index]=${role_listens[index]:-0.0.0.0:${role_addresses[index]##*:}}
    fi
}

# Comma-separated addresses of every parameter server.
ps_addresses() {
    local index list=
    for index in "${!role_names[@]}"; do
        [ "${role_names[index]}" = ps ] && list=${list:+$list,}${role_addresses[index]}
    done
    printf '%s\n' "$list"
}

# Prints the shell command that runs role INDEX on its host.
remote_command() {
    local index=$1
    local -a environment=(NO_COLOR=1)
    local -a command=()
    local variable
    [ -n "${DISTGAN_LOG:-}" ] && environment+=("DISTGAN_LOG=$DISTGAN_LOG")

    case ${role_names[index]} in
        ps)
            environment+=("DISTGAN_LISTEN_ADDR=${role_listens[index]}")
            [ -n "${role_shards[index]}" ] && environment+=("DISTGAN_SHARDS=${role_shards[index]}")
            command=("$binary" ps)
            ;;
        coordinator)
            for variable in DISTGAN_CONFIG DISTGAN_DATA DISTGAN_OUT; do
                [ -n "${!variable:-}" ] && environment+=("$variable=${!variable}")
            done
            environment+=("DISTGAN_LISTEN_ADDR=${role_listens[index]}" "DISTGAN_PS_ADDR=$(ps_addresses)")
            command=("$binary" coordinator "${coordinator_flags[@]}")
            ;;
        worker)
            [ -n "${DISTGAN_DATA:-}" ] && environment+=("DISTGAN_DATA=$DISTGAN_DATA")
            local threads=${role_threads[index]:-${DISTGAN_THREADS:-}}
            [ -n "$threads" ] && environment+=("DISTGAN_THREADS=$threads")
            environment+=("DISTGAN_COORDINATOR_ADDR=${role_addresses[coordinator_index]}"
                "DISTGAN_WORKER_NAME=${role_worker_names[index]}")
            command=("$binary" worker)
            ;;
    esac

    local text word
    text="sh -c $(quote "$remote_wrapper") distgan-${role_names[index]} env"
    for word in "${environment[@]}" "${command[@]}"; do
        text+=" $(quote "$word")"
    done
    printf '%s\n' "$text"
}
