#!/usr/bin/env bash
# Side-by-side benchmark: edgeward vs nginx vs HAProxy as a single-worker
# reverse proxy in front of the same nginx origin, all on loopback.
#
#   bash bench/run.sh                      # full run, 10 s per row
#   DURATION=30 CONNECTIONS=64 bash bench/run.sh
#   TARGETS="origin nginx haproxy" bash bench/run.sh   # skip edgeward
#
# See bench/README.md for what the numbers mean (and do not mean).
set -euo pipefail

# ---------------------------------------------------------------- settings --
DURATION=${DURATION:-10}          # seconds per measured run
WARMUP=${WARMUP:-2}               # seconds of unmeasured warm-up per row
CONNECTIONS=${CONNECTIONS:-32}    # wrk -c
THREADS=${THREADS:-1}             # wrk -t (wrk shares core 1 with the origin)
TARGETS=${TARGETS:-"origin edgeward nginx haproxy"}
# nginx and HAProxy run with access logs off; edgeward's per-request access
# log (target edgeward::access) is switched off the same way to compare like
# with like. EDGEWARD_LOG=info benchmarks it with the access log on.
export EDGEWARD_LOG=${EDGEWARD_LOG:-info,edgeward::access=off}
PROXY_CORE=${PROXY_CORE:-0}       # the proxy under test gets this core alone
LOAD_CORE=${LOAD_CORE:-1}         # wrk and the origin share this one

# Fixed high loopback ports; the script refuses to run if one is taken
# (override one with e.g. HAPROXY_PORT=18092 if something else holds it).
ORIGIN_PORT=${ORIGIN_PORT:-18000}
EDGEWARD_PORT=${EDGEWARD_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
HAPROXY_PORT=${HAPROXY_PORT:-18082}
HOST=127.0.0.1                    # never anything but loopback

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR="$ROOT/bench/out"
EDGEWARD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/edgeward"

WORK=""             # temp dir for configs and logs (set in main)
PIDS=()             # every process we started, killed on exit
declare -A PID_OF   # target name -> pid of its top process
declare -A ROWS     # "scenario|target" -> rendered measurements
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ housekeeping --

# Kill everything we started (and only that), whatever way the script exits.
# The temp dir is kept when the run failed so the logs can be read.
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

has() { command -v "$1" >/dev/null 2>&1; }

# Install the tools that are missing (Debian package names), updating the
# package lists once, and only when something has to be installed.
install_deps() {
    export PATH="$PATH:/usr/sbin:/sbin"
    local -A pkg_for=([nginx]=nginx [haproxy]=haproxy [wrk]=wrk [taskset]=util-linux
                      [curl]=curl [pgrep]=procps [getconf]=libc-bin)
    local missing=() cmd
    for cmd in "${!pkg_for[@]}"; do has "$cmd" || missing+=("${pkg_for[$cmd]}"); done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
    for cmd in "${!pkg_for[@]}"; do has "$cmd" || die "$cmd still missing after install"; done
}

build_edgeward() {
    log "building edgeward (release)"
    (cd "$ROOT" && cargo build --release -p edgeward) \
        || die "cargo build failed (TARGETS=\"origin nginx haproxy\" runs the rest without edgeward)"
    [[ -x "$EDGEWARD_BIN" ]] || die "no binary at $EDGEWARD_BIN"
}

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

# A connect() that succeeds means someone already listens there: we would be
# benchmarking them, not us.
check_port_free() {
    if (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; then
        die "port $1 on $HOST is already in use (the *_PORT variables move ours)"
    fi
}

# Start a command in the background pinned to a core; record its pid.
# taskset execs the command, so $! is the server's own pid.
spawn() { # name core logfile cmd...
    local name=$1 core=$2 logfile=$3; shift 3
    taskset -c "$core" "$@" >"$logfile" 2>&1 &
    PIDS+=("$!")
    PID_OF[$name]=$!
}

# Wait until the server answers HTTP at all; fail early if it died.
wait_ready() { # name port logfile
    local name=$1 port=$2 logfile=$3 pid=${PID_OF[$1]}
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$name exited during start-up"; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$port/" || true) != 000 ]]; then
            return 0
        fi
        sleep 0.1
    done
    cat "$logfile" >&2
    die "$name did not answer on port $port within 10 s"
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

start_edgeward() {
    local dir="$WORK/edgeward"; mkdir -p "$dir"
    cat >"$dir/edgeward.toml" <<EOF
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
    "$EDGEWARD_BIN" check "$dir/edgeward.toml" >"$dir/check.log" 2>&1 \
        || { cat "$dir/check.log" >&2; die "edgeward check rejected $dir/edgeward.toml"; }
    spawn edgeward "$PROXY_CORE" "$dir/edgeward.log" "$EDGEWARD_BIN" run "$dir/edgeward.toml"
    # Its readiness line is the contract; the HTTP poll below is the proof.
    for _ in $(seq 100); do
        grep -q 'edgeward listening on' "$dir/edgeward.log" && break
        kill -0 "${PID_OF[edgeward]}" 2>/dev/null || break
        sleep 0.1
    done
    wait_ready edgeward "$EDGEWARD_PORT" "$dir/edgeward.log"
}

# nginx as the reference proxy: keep-alive pool to the origin, HTTP/1.1
# upstream, X-Forwarded-For like a real edge. /.edgeward/ is answered by
# nginx itself (its default 404 page) for the edge-generated-404 rows.
start_nginx_proxy() {
    local dir="$WORK/nginx-proxy"; mkdir -p "$dir/tmp"
    { nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      cat <<EOF
    upstream origin {
        server $HOST:$ORIGIN_PORT;
        keepalive 256;
        keepalive_requests 10000000;
    }
    server {
        listen $HOST:$NGINX_PORT backlog=4096;
        location ^~ /.edgeward/ { return 404; }
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_nginx nginx "$PROXY_CORE" "$NGINX_PORT" "$dir"
}

# HAProxy: one thread, connection reuse to the origin, no logging.
# /.edgeward/ is answered by HAProxy's built-in 404 page.
start_haproxy() {
    local dir="$WORK/haproxy"; mkdir -p "$dir"
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096   # stays under the usual 20000 fd hard limit

defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind $HOST:$HAPROXY_PORT
    http-request return status 404 default-errorfiles if { path_beg /.edgeward/ }
    default_backend be

backend be
    server origin $HOST:$ORIGIN_PORT
EOF
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy config invalid ($dir/haproxy.cfg)"
    # -db: stay in the foreground, one process, so its pid is what we measure.
    spawn haproxy "$PROXY_CORE" "$dir/haproxy.log" haproxy -db -f "$dir/haproxy.cfg"
    wait_ready haproxy "$HAPROXY_PORT" "$dir/haproxy.log"
}

port_of() {
    case $1 in
        origin) echo "$ORIGIN_PORT" ;; edgeward) echo "$EDGEWARD_PORT" ;;
        nginx) echo "$NGINX_PORT" ;;   haproxy) echo "$HAPROXY_PORT" ;;
    esac
}

# -------------------------------------------------------- CPU accounting --

# The pid and all its descendants (nginx: master + worker).
pid_tree() {
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do pid_tree "$child"; done
}

# utime+stime in clock ticks, summed over the tree. /proc/PID/stat already
# sums all threads of a process. The comm field may contain spaces, so cut
# at the last ')' first: after it, utime and stime are fields 12 and 13.
cpu_ticks() {
    local total=0 pid stat rest f
    for pid in $(pid_tree "$1"); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# ---------------------------------------------------------------- running --

# Fail loudly when a target does not answer what the row claims to measure:
# the status, and who wrote the body (a 404 from the origin and one made by
# the edge have the same status, so the body tells them apart).
check_response() { # target port path expected-status body-rule
    local body code
    body="$WORK/check-$1.body"
    code=$(curl -s -o "$body" -w '%{http_code}' "http://$HOST:$2$3" || true)
    [[ $code == "$4" ]] || die "$1 answered $code for GET $3, expected $4"
    case $5 in
        has:*)  grep -qF -- "${5#has:}" "$body" || die "$1: body of GET $3 lacks '${5#has:}' (not from the origin?)" ;;
        not:*) ! grep -qF -- "${5#not:}" "$body" || die "$1: body of GET $3 has '${5#not:}' (answered by the origin, not the edge)" ;;
    esac
}

wrk_run() { # url seconds outfile
    taskset -c "$LOAD_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency "$1" >"$3" 2>&1 \
        || { cat "$3" >&2; die "wrk failed against $1"; }
}

# wrk prints latencies as 812.00us / 1.20ms / 1.05s; report milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# One row: warm up, check the status, measure wrk + proxy CPU, store.
measure() { # scenario target path expected body-rule
    local scenario=$1 target=$2 path=$3 expected=$4 rule=$5
    local port url out before after
    port=$(port_of "$target"); url="http://$HOST:$port$path"
    out="$WORK/wrk-${target}-$(echo "$path" | tr -c 'a-zA-Z0-9' '_').txt"

    check_response "$target" "$port" "$path" "$expected" "$rule"
    log "$scenario / $target: warm-up ${WARMUP}s, then ${DURATION}s"
    wrk_run "$url" "$WARMUP" "$out.warmup"

    before=$(cpu_ticks "${PID_OF[$target]}")
    wrk_run "$url" "$DURATION" "$out"
    after=$(cpu_ticks "${PID_OF[$target]}")

    local requests rps p50 p99 non2xx errors
    requests=$(awk '/ requests in /{print $1}' "$out")
    rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/{print $2}' "$out")
    errors=$(awk -F': *' '/Socket errors/{print $2}' "$out")
    [[ -n $requests && $requests -gt 0 && -n $rps && -n $p50 && -n $p99 ]] \
        || { cat "$out" >&2; die "could not parse wrk output for $scenario / $target"; }

    # Every response must have had the expected class of status.
    local notes=""
    if [[ $expected == 2* && -n $non2xx ]]; then notes+="${non2xx} non-2xx! "; fi
    if [[ $expected != 2* && ${non2xx:-0} -ne $requests ]]; then notes+="only ${non2xx:-0}/$requests were non-2xx! "; fi
    if [[ -n $errors ]]; then notes+="socket errors: $errors "; fi
    [[ -z $notes ]] || log "WARNING $scenario / $target: $notes"

    local ticks=$((after - before)) cpu_ms_per_1k busy
    cpu_ms_per_1k=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
    busy=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.0f%%", t / hz / d * 100 }')

    ROWS["$scenario|$target"]="$(printf '%.0f' "$rps")|$(to_ms "$p50")|$(to_ms "$p99")|$cpu_ms_per_1k|$busy|$notes"
}

# --------------------------------------------------------------- reporting --

render_report() {
    local scenario target row rps p50 p99 cpu busy notes ref vs
    echo "# edgeward side-by-side benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), load average at start: $LOAD_AT_START"
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); haproxy: $(haproxy -v | awk 'NR==1{print $3}'); wrk: $( (wrk --version 2>&1 || true) | awk 'NR==1{print $2}')"
    echo "- edgeward: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$( [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ' (uncommitted changes)')"
    echo "- wrk: -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up), pinned to core $LOAD_CORE with the origin; proxy under test alone on core $PROXY_CORE, one worker each"
    echo "- edgeward log filter: EDGEWARD_LOG=$EDGEWARD_LOG (nginx and HAProxy: access logs off)"
    echo "- CPU = utime+stime of the proxy's processes (nginx: master+worker) over the measured run; 'CPU busy' = share of one core"
    echo
    echo "| scenario | target | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | CPU vs nginx | CPU busy | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
    for scenario in "${SCENARIOS[@]}"; do
        ref=""
        [[ -n ${ROWS["$scenario|nginx"]:-} ]] && ref=$(cut -d'|' -f4 <<<"${ROWS["$scenario|nginx"]}")
        for target in origin edgeward nginx haproxy; do
            row=${ROWS["$scenario|$target"]:-}
            [[ -n $row ]] || continue
            IFS='|' read -r rps p50 p99 cpu busy notes <<<"$row"
            if [[ $target == origin ]]; then vs="—"
            elif [[ -n $ref ]]; then vs=$(awk -v a="$cpu" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }')
            else vs="n/a"; fi
            local label=$target
            [[ $target == origin ]] && label="direct origin (nginx)"
            echo "| $scenario | $label | $rps | $p50 | $p99 | $cpu | $vs | $busy | $notes |"
        done
    done
}

# -------------------------------------------------------------------- main --

# scenario label -> path, expected status, and a check on who wrote the body.
SCENARIOS=("GET / (200 via origin)" "GET /missing (origin 404)" "GET /.edgeward/nope (edge 404)")
declare -A PATH_OF=(
    ["GET / (200 via origin)"]=/
    ["GET /missing (origin 404)"]=/missing
    ["GET /.edgeward/nope (edge 404)"]=/.edgeward/nope
)
declare -A STATUS_OF=(
    ["GET / (200 via origin)"]=200
    ["GET /missing (origin 404)"]=404
    ["GET /.edgeward/nope (edge 404)"]=404
)
declare -A BODY_RULE_OF=(   # has:TEXT / not:TEXT, checked once before the row
    ["GET / (200 via origin)"]="has:hello from origin"
    ["GET /missing (origin 404)"]="has:origin 404"
    ["GET /.edgeward/nope (edge 404)"]="not:origin 404"
)

main() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_deps
    if wants edgeward; then build_edgeward; fi
    (($(nproc) >= 2)) || log "WARNING: fewer than 2 cores; pinning cannot separate load from proxy"
    LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
    # Anything else busy on the two cores (a cargo build...) skews every row.
    awk '{ exit !($1 > 0.5) }' /proc/loadavg \
        && log "WARNING: load average is $LOAD_AT_START; other work on this machine will skew the numbers"

    WORK=$(mktemp -d -t edgeward-bench.XXXXXX)
    log "work dir: $WORK"
    local port
    for port in "$ORIGIN_PORT" "$EDGEWARD_PORT" "$NGINX_PORT" "$HAPROXY_PORT"; do check_port_free "$port"; done

    # The origin always runs: every proxied row needs it.
    start_origin
    if wants edgeward; then start_edgeward; fi
    if wants nginx; then start_nginx_proxy; fi
    if wants haproxy; then start_haproxy; fi

    local scenario target
    for scenario in "${SCENARIOS[@]}"; do
        for target in origin edgeward nginx haproxy; do
            wants "$target" || continue
            # The origin cannot produce the edge's own 404; there is no direct row.
            [[ $target == origin && ${PATH_OF[$scenario]} == /.edgeward/* ]] && continue
            measure "$scenario" "$target" "${PATH_OF[$scenario]}" "${STATUS_OF[$scenario]}" "${BODY_RULE_OF[$scenario]}"
        done
    done

    mkdir -p "$OUT_DIR"
    local report="$OUT_DIR/results-$(date -u +%Y-%m-%dT%H%M%SZ).md"
    render_report | tee "$report"
    log "saved $report"
}

main "$@"
