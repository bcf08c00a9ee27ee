# shellcheck shell=bash
# Machinery shared by the benchmarks (run.sh, rules.sh, analytics.sh); each
# script sources this file and keeps only its own targets, rows and report.
#
# Sourcing it sets the settings common to every benchmark (below), and
# defines functions for: installing the tools, the temp dir and the cleanup
# trap, port checks, starting pinned processes and waiting for them, the nginx
# origin, edgeward's base config, running wrk and parsing its --latency output,
# running h2load and taking percentiles from its per-request log, a
# self-signed certificate, the CPU time (user and system) and RSS of a process
# tree, and the report's common lines.
#
# The sourcing script sets its own ports (ORIGIN_PORT, EDGEWARD_PORT, ...)
# and EDGEWARD_LOG; it may set LOG_TAG (log prefix), PORT_HINT (how to move a
# taken port) and READY_CURL_ARGS (extra curl arguments for readiness probes)
# after sourcing. See bench/README.md for the method.
set -euo pipefail

# ---------------------------------------------------------------- settings --
DURATION=${DURATION:-10}          # seconds per measured run
WARMUP=${WARMUP:-2}               # seconds of unmeasured warm-up per row
CONNECTIONS=${CONNECTIONS:-32}    # wrk -c
THREADS=${THREADS:-1}             # wrk -t (wrk shares core 1 with the origin)
PROXY_CORE=${PROXY_CORE:-0}       # the proxy under test gets this core alone
LOAD_CORE=${LOAD_CORE:-1}         # wrk and the origin share this one
HOST=127.0.0.1                    # never anything but loopback

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR="$ROOT/bench/out"
# EDGEWARD_BIN (with SKIP_BUILD=1) benchmarks another build, e.g. of a clean
# snapshot while the working tree is mid-edit; EDGEWARD_REVISION then names it.
EDGEWARD_BIN=${EDGEWARD_BIN:-"${CARGO_TARGET_DIR:-$ROOT/target}/release/edgeward"}
CLK_TCK=$(getconf CLK_TCK)

WORK=""             # temp dir for configs and logs (set by bench_workspace)
PIDS=()             # every process we started, killed on exit
declare -A PID_OF   # target name -> pid of its top process
LOAD_AT_START=""    # /proc/loadavg when the run began, for the report
LOG_TAG=bench       # prefix of every log line
PORT_HINT=""        # how to move a taken port; default: the variables' names
READY_CURL_ARGS=()  # extra curl arguments for the readiness probe

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }
has() { command -v "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------ housekeeping --

# Kill everything we started (and only that), whatever way the script exits:
# TERM to all first so they stop in parallel, KILL after 5 s. The temp dir is
# kept when the run failed so the logs can be read.
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ $rc -eq 0 && -z "${KEEP_TMP:-}" ]]; then
            rm -rf "$WORK"
        else
            log "configs and logs kept in $WORK"
        fi
    fi
    exit "$rc"
}

# Install the tools that are missing (Debian package names), updating the
# package lists once, and only when something has to be installed.
install_deps() { # command...
    export PATH="$PATH:/usr/sbin:/sbin"
    local -A pkg_for=([nginx]=nginx [haproxy]=haproxy [wrk]=wrk [taskset]=util-linux
                      [curl]=curl [pgrep]=procps [getconf]=libc-bin [h2load]=nghttp2-client
                      [openssl]=openssl [python3]=python3 [valgrind]=valgrind)
    local missing=() cmd
    for cmd in "$@"; do
        [[ -n ${pkg_for[$cmd]:-} ]] || die "install_deps: no package known for $cmd"
        has "$cmd" || missing+=("${pkg_for[$cmd]}")
    done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
    for cmd in "$@"; do has "$cmd" || die "$cmd still missing after install"; done
}

# Every script begins the same way: stop what it starts however it ends, and
# have the tools it needs (wrk, nginx, taskset, ... passed as commands).
bench_setup() { # command...
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_deps "$@"
}

# Build the release binary the rows run; $1 is appended to the failure message
# (e.g. how to run without edgeward).
build_edgeward() { # [hint]
    log "building edgeward (release)"
    (cd "$ROOT" && cargo build --release -p edgeward) || die "cargo build failed${1:-}"
    require_edgeward_bin
}

require_edgeward_bin() {
    [[ -x "$EDGEWARD_BIN" ]] || die "no binary at $EDGEWARD_BIN"
}

# Build the release binary, or with SKIP_BUILD=1 take EDGEWARD_BIN as it is.
edgeward_binary() { # [hint]
    if [[ -z ${SKIP_BUILD:-} ]]; then build_edgeward "${1:-}"; else require_edgeward_bin; fi
}

# A connect() that succeeds means someone already listens there: we would be
# benchmarking them, not us. Takes variable names so the message can say
# which variables move our ports.
check_ports_free() { # PORT_VARIABLE...
    local hint=$PORT_HINT name
    if [[ -z $hint ]]; then hint=$1; for name in "${@:2}"; do hint+=" / $name"; done; fi
    for name in "$@"; do
        if (exec 3<>"/dev/tcp/$HOST/${!name}") 2>/dev/null; then
            die "port ${!name} on $HOST is already in use ($hint move ours)"
        fi
    done
}

# Before anything starts: note the load (anything else busy on the two cores,
# a cargo build..., skews every row), make the temp dir for configs and logs,
# and make sure our ports are free.
bench_workspace() { # mktemp-prefix PORT_VARIABLE...
    LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
    awk '{ exit !($1 > 0.5) }' /proc/loadavg \
        && log "WARNING: load average is $LOAD_AT_START; other work on this machine will skew the numbers"
    WORK=$(mktemp -d -t "$1.XXXXXX")
    log "work dir: $WORK"
    shift
    check_ports_free "$@"
}

# ------------------------------------------------------------- processes --

# Start a command in the background pinned to a core; record its pid.
# taskset execs the command, so $! is the server's own pid.
spawn() { # name core logfile cmd...
    local name=$1 core=$2 logfile=$3; shift 3
    taskset -c "$core" "$@" >"$logfile" 2>&1 &
    PIDS+=("$!")
    PID_OF[$name]=$!
}

# Wait until the server answers HTTP at all; fail early if it died.
wait_ready() { # name port logfile [label for messages]
    local name=$1 port=$2 logfile=$3 label=${4:-$1} pid=${PID_OF[$1]}
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$label exited during start-up"; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "${READY_CURL_ARGS[@]}" "http://$HOST:$port/" || true) != 000 ]]; then
            return 0
        fi
        sleep 0.1
    done
    cat "$logfile" >&2
    die "$label did not answer on port $port within 10 s"
}

# Stop one target we started (scripts that restart edgeward per row), give it
# up to 10 s to shut down gracefully, and forget its pid so cleanup does not
# signal a pid that may have been reused.
stop_target() { # name
    local pid=${PID_OF[$1]} p rest=()
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
    PIDS=("${rest[@]}")
    unset 'PID_OF[$1]'
}

# -------------------------------------------------------------- the servers --

# nginx needs its own prefix so it writes nothing outside the temp dir
# (pid file, temp paths, error log); -e covers the log opened before the
# config is read.
nginx_common() { # dir
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() { # dir
    cat <<EOF
    access_log off;
    default_type text/plain;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path       $1/tmp/proxy;
    fastcgi_temp_path     $1/tmp/fastcgi;
    uwsgi_temp_path       $1/tmp/uwsgi;
    scgi_temp_path        $1/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
EOF
}

# Validate dir/nginx.conf, then run it in the foreground pinned to a core.
start_nginx() { # name core port dir
    local name=$1 core=$2 port=$3 dir=$4
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "nginx config for $name is invalid ($dir/nginx.conf)"
    spawn "$name" "$core" "$dir/stdout.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_ready "$name" "$port" "$dir/error.log"
}

# The origin: one tiny body for /, a 404 with a tiny body for the rest.
# It shares core 1 with wrk so that core 0 belongs to the proxy alone.
start_origin() {
    local dir="$WORK/origin"; mkdir -p "$dir/tmp"
    { nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      cat <<EOF
    server {
        listen $HOST:$ORIGIN_PORT backlog=4096;
        location = / { return 200 "hello from origin\n"; }
        location /   { return 404 "origin 404\n"; }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_nginx origin "$LOAD_CORE" "$ORIGIN_PORT" "$dir"
}

# The part of edgeward's config every benchmark shares: one worker on
# EDGEWARD_PORT, a keep-alive pool as large as nginx's, one zone in front of
# the origin. The scripts append their own sections.
edgeward_base_toml() {
    cat <<EOF
[server]
listen = "$HOST:$EDGEWARD_PORT"
workers = 1

[upstream]
max_idle_per_origin = 256

[[zones]]
name = "bench"
hosts = ["localhost", "127.0.0.1"]
origins = ["$HOST:$ORIGIN_PORT"]
EOF
}

# Check dir/edgeward.toml, then run it alone on the proxy core as target
# "edgeward".
start_edgeward_in() { # dir [label for messages]
    local dir=$1 label=${2:-edgeward}
    "$EDGEWARD_BIN" check "$dir/edgeward.toml" >"$dir/check.log" 2>&1 \
        || { cat "$dir/check.log" >&2; die "edgeward check rejected $dir/edgeward.toml"; }
    spawn edgeward "$PROXY_CORE" "$dir/edgeward.log" "$EDGEWARD_BIN" run "$dir/edgeward.toml"
    # Its readiness line is the contract; the HTTP poll below is the proof.
    for _ in $(seq 100); do
        grep -q 'edgeward listening on' "$dir/edgeward.log" && break
        kill -0 "${PID_OF[edgeward]}" 2>/dev/null || break
        sleep 0.1
    done
    wait_ready edgeward "$EDGEWARD_PORT" "$dir/edgeward.log" "$label"
}

# -------------------------------------------------------- CPU accounting --

# The pid and all its descendants (nginx: master + worker).
pid_tree() {
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do pid_tree "$child"; done
}

# "utime stime" in clock ticks, each summed over the tree. /proc/PID/stat
# already sums all threads of a process. The comm field may contain spaces, so
# cut at the last ')' first: after it, utime and stime are fields 12 and 13.
cpu_ticks_split() {
    local user=0 sys=0 pid stat rest f
    for pid in $(pid_tree "$1"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        user=$((user + f[11])); sys=$((sys + f[12]))
    done
    echo "$user $sys"
}

# utime+stime in clock ticks, summed over the tree.
cpu_ticks() {
    local user sys
    read -r user sys <<<"$(cpu_ticks_split "$1")"
    echo $((user + sys))
}

# Resident memory of the tree in KiB (VmRSS, summed; threads share it).
rss_kib() {
    local total=0 pid kb
    for pid in $(pid_tree "$1"); do
        kb=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# From two cpu_ticks_split readings and a request count, the globals every
# measurement reports: CPU_MS_PER_1K (CPU ms per 1000 requests), CPU_USER_US
# and CPU_SYS_US (µs of user / system time per request) and CPU_BUSY (share of
# one core over the run).
cpu_per_request() { # "user sys" before, "user sys" after, requests, seconds
    local u0 s0 u1 s1
    read -r u0 s0 <<<"$1"; read -r u1 s1 <<<"$2"
    CPU_MS_PER_1K=$(awk -v t=$((u1 - u0 + s1 - s0)) -v hz="$CLK_TCK" -v n="$3" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
    CPU_USER_US=$(awk -v t=$((u1 - u0)) -v hz="$CLK_TCK" -v n="$3" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    CPU_SYS_US=$(awk -v t=$((s1 - s0)) -v hz="$CLK_TCK" -v n="$3" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    CPU_BUSY=$(awk -v t=$((u1 - u0 + s1 - s0)) -v hz="$CLK_TCK" -v d="$4" 'BEGIN { printf "%.0f%%", t / hz / d * 100 }')
}

# A self-signed ECDSA P-256 certificate for localhost in dir/cert.pem and
# dir/key.pem (PKCS#8), valid two days: enough for a TLS benchmark, trusted by
# nobody (clients run with -k / no verification).
self_signed_cert() { # dir
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost \
        -keyout "$1/key.pem" -out "$1/cert.pem" >"$1/openssl.log" 2>&1 \
        || { cat "$1/openssl.log" >&2; die "openssl could not make a certificate"; }
}

# ---------------------------------------------------------------- running --

# Fail loudly when a target does not answer what the row claims to measure:
# the status, and who wrote the body (a 404 from the origin and one made by
# the edge have the same status, so the body tells them apart).
check_response() { # name port path expected-status body-rule [curl args...]
    check_url "$1" "http://$HOST:$2$3" "$4" "$5" "${@:6}"
}

# The same for any URL (https://, or with curl arguments such as --http2).
check_url() { # name url expected-status body-rule [curl args...]
    local body code
    body="$WORK/check-$1.body"
    code=$(curl -s -o "$body" -w '%{http_code}' "${@:5}" "$2" || true)
    [[ $code == "$3" ]] || die "$1 answered $code for GET $2, expected $3 ($(head -c 300 "$body" 2>/dev/null))"
    case $4 in
        has:*)  grep -qF -- "${4#has:}" "$body" || die "$1: body of GET $2 lacks '${4#has:}' (not from the origin?)" ;;
        not:*) ! grep -qF -- "${4#not:}" "$body" || die "$1: body of GET $2 has '${4#not:}' (answered by the origin, not the edge)" ;;
    esac
}

# wrk from the load core; extra arguments (headers) go before the URL.
wrk_run() { # url seconds outfile [wrk args...]
    taskset -c "$LOAD_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency "${@:4}" "$1" >"$3" 2>&1 \
        || { cat "$3" >&2; die "wrk failed against $1"; }
}

# wrk prints latencies as 812.00us / 1.20ms / 1.05s; report milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# One measurement: warm up (unmeasured: fills keep-alive pools, warms caches),
# then the measured wrk run with the CPU of pid's process tree read just
# before and after it. Results go to globals, as a row needs several:
# WRK_REQUESTS WRK_RPS WRK_P50 WRK_P99 WRK_NON2XX WRK_ERRORS (as wrk printed
# them), and cpu_per_request's CPU_MS_PER_1K, CPU_USER_US, CPU_SYS_US and
# CPU_BUSY.
wrk_measure() { # label pid url outfile [wrk args...]
    local label=$1 pid=$2 url=$3 out=$4 before after; shift 4
    log "$label: warm-up ${WARMUP}s, then ${DURATION}s"
    wrk_run "$url" "$WARMUP" "$out.warmup" "$@"

    before=$(cpu_ticks_split "$pid")
    wrk_run "$url" "$DURATION" "$out" "$@"
    after=$(cpu_ticks_split "$pid")

    WRK_REQUESTS=$(awk '/ requests in /{print $1}' "$out")
    WRK_RPS=$(awk '/^Requests\/sec:/{print $2}' "$out")
    WRK_P50=$(awk '$1 == "50%" {print $2}' "$out")
    WRK_P99=$(awk '$1 == "99%" {print $2}' "$out")
    WRK_NON2XX=$(awk -F': *' '/Non-2xx or 3xx responses/{print $2}' "$out")
    WRK_ERRORS=$(awk -F': *' '/Socket errors/{print $2}' "$out")
    [[ -n $WRK_REQUESTS && $WRK_REQUESTS -gt 0 && -n $WRK_RPS && -n $WRK_P50 && -n $WRK_P99 ]] \
        || { cat "$out" >&2; die "could not parse wrk output for $label"; }

    cpu_per_request "$before" "$after" "$WRK_REQUESTS" "$DURATION"
}

# Percentiles (ms) of the third column (µs until the response ended) of an
# h2load --log-file: prints "p50 p99 max".
h2load_log_percentiles() { # logfile
    cut -f3 "$1" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a n/a"; exit }
        i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
        i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "%.3f %.3f %.3f\n", v[i50] / 1000, v[i99] / 1000, v[NR] / 1000 }'
}

# One h2load measurement, the counterpart of wrk_measure, but in one h2load
# run: its --warm-up-time (WARMUP s: connections and TLS handshakes made, the
# upstream pool filled) then DURATION s measured. The CPU of pid's process
# tree is read when h2load announces the measured phase and again when it
# has exited, so handshakes are not charged to the requests; h2load logs the
# time of every request of the measured phase (only those). Sets H2_REQUESTS (done), H2_SUCCEEDED,
# H2_FAILED (failed + errored + timeout), H2_2XX, H2_RPS, H2_P50/H2_P99 (ms)
# and cpu_per_request's globals.
h2load_measure() { # label pid url outfile [h2load args...]
    local label=$1 pid=$2 url=$3 out=$4 before="" after h2pid; shift 4
    log "$label: warm-up ${WARMUP}s, then ${DURATION}s"
    # Line-buffered, so that the phase line is in the file when h2load prints it.
    taskset -c "$LOAD_CORE" stdbuf -oL h2load -t1 --warm-up-time="$WARMUP" -D "$DURATION" \
        --log-file="$out.log" "$@" "$url" >"$out" 2>&1 &
    h2pid=$!
    PIDS+=("$h2pid")
    while kill -0 "$h2pid" 2>/dev/null; do
        if grep -q '^Main benchmark duration is started' "$out"; then
            before=$(cpu_ticks_split "$pid")
            break
        fi
        sleep 0.01
    done
    wait "$h2pid" || { cat "$out" >&2; die "h2load failed against $url"; }
    after=$(cpu_ticks_split "$pid")
    [[ -n $before ]] || { cat "$out" >&2; die "h2load never started its measured phase against $url"; }

    read -r H2_REQUESTS H2_SUCCEEDED H2_FAILED <<<"$(awk '/^requests:/ {
        gsub(",", ""); print $6, $8, $10 + $12 + $14 }' "$out")"
    H2_2XX=$(awk '/^status codes:/ { print $3 }' "$out")
    H2_RPS=$(awk '/^finished in/ { gsub(",", ""); print $4 }' "$out")
    read -r H2_P50 H2_P99 _ <<<"$(h2load_log_percentiles "$out.log")"
    [[ -n $H2_REQUESTS && $H2_REQUESTS -gt 0 && -n $H2_RPS && $H2_P50 != n/a ]] \
        || { cat "$out" >&2; die "could not parse h2load output for $label"; }
    cpu_per_request "$before" "$after" "$H2_REQUESTS" "$DURATION"
}

# The common columns of a row from the last wrk_measure:
# req/s|p50 ms|p99 ms|CPU ms per 1k req|CPU busy|user µs/req|sys µs/req.
wrk_row() {
    echo "$(printf '%.0f' "$WRK_RPS")|$(to_ms "$WRK_P50")|$(to_ms "$WRK_P99")|$CPU_MS_PER_1K|$CPU_BUSY|$CPU_USER_US|$CPU_SYS_US"
}

# The row's notes from the last wrk_measure: every response must have had the
# expected class of status, and no socket errors; logged as a warning too.
wrk_notes() { # expected-status label
    local notes=""
    if [[ $1 == 2* && -n $WRK_NON2XX ]]; then notes+="${WRK_NON2XX} non-2xx! "; fi
    if [[ $1 != 2* && ${WRK_NON2XX:-0} -ne $WRK_REQUESTS ]]; then notes+="only ${WRK_NON2XX:-0}/$WRK_REQUESTS were non-2xx! "; fi
    if [[ -n $WRK_ERRORS ]]; then notes+="socket errors: $WRK_ERRORS "; fi
    [[ -z $notes ]] || log "WARNING $2: $notes"
    echo "$notes"
}

# --------------------------------------------------------------- reporting --

# A row's CPU per request over the reference row's: "1.20×", or with
# "percent" "+20%"; "n/a" without a reference.
cpu_vs() { # cpu ref [percent]
    [[ -n $2 ]] || { echo "n/a"; return; }
    if [[ ${3:-} == percent ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.0f%%", (a / b - 1) * 100; else print "n/a" }'
    else
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'
    fi
}

# Report lines every benchmark starts with.
machine_line() {
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), load average at start: $LOAD_AT_START"
}

edgeward_revision() {
    [[ -z ${EDGEWARD_REVISION:-} ]] || { echo "$EDGEWARD_REVISION"; return; }
    echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$( [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ' (uncommitted changes)')"
}

# Print the report and save it as bench/out/PREFIX-<UTC date-time>.md.
save_report() { # file-prefix render-function
    mkdir -p "$OUT_DIR"
    local file
    file="$OUT_DIR/$1-$(date -u +%Y-%m-%dT%H%M%SZ).md"
    "$2" | tee "$file"
    log "saved $file"
}
