#!/usr/bin/env bash
# What the protections cost: edgeward as a single-worker proxy in front of the
# same tiny nginx origin as run.sh, once per scenario:
#
#   plain        WAF off, no custom rules
#   waf          the managed WAF at its default (medium) sensitivity, no rules
#   rules-50     WAF off, 50 custom rules, none of which matches
#   rules-500    WAF off, 500 custom rules, none of which matches
#
#   bash bench/rules.sh
#   DURATION=20 SCENARIOS="plain rules-500" bash bench/rules.sh
#
# The rules are varied (path equality, starts_with, regex `matches`, `ip.src in`
# CIDR sets, header equality, `lower(http.user_agent) contains`), so a request
# walks every one of them before it reaches the origin. See bench/README.md.
set -euo pipefail

# ---------------------------------------------------------------- settings --
DURATION=${DURATION:-10}          # seconds per measured run
WARMUP=${WARMUP:-2}               # seconds of unmeasured warm-up per row
CONNECTIONS=${CONNECTIONS:-32}    # wrk -c
THREADS=${THREADS:-1}             # wrk -t (wrk shares core 1 with the origin)
SCENARIOS=${SCENARIOS:-"plain waf rules-50 rules-500"}
export EDGEWARD_LOG=${EDGEWARD_LOG:-warn}
PROXY_CORE=${PROXY_CORE:-0}       # edgeward gets this core alone
LOAD_CORE=${LOAD_CORE:-1}         # wrk and the origin share this one
ORIGIN_PORT=${ORIGIN_PORT:-18600}
EDGEWARD_PORT=${EDGEWARD_PORT:-18680}
HOST=127.0.0.1                    # never anything but loopback
# A browser-like request, so that header-reading rules and the WAF have real work.
UA="Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
REQ_PATH=/

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR="$ROOT/bench/out"
EDGEWARD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/edgeward"

WORK=""
PIDS=()
declare -A PID_OF
declare -A ROWS
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[rules-bench] %s\n' "$*" >&2; }
die() { printf '[rules-bench] ERROR: %s\n' "$*" >&2; exit 1; }
has() { command -v "$1" >/dev/null 2>&1; }

# ------------------------------------------------------------ housekeeping --

# Stop one process we started (and only it), politely first.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    wait 2>/dev/null || true
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ $rc -eq 0 && -z "${KEEP_TMP:-}" ]]; then rm -rf "$WORK"; else log "configs and logs kept in $WORK"; fi
    fi
    exit "$rc"
}

install_deps() {
    export PATH="$PATH:/usr/sbin:/sbin"
    local -A pkg_for=([nginx]=nginx [wrk]=wrk [taskset]=util-linux [curl]=curl [pgrep]=procps [getconf]=libc-bin)
    local missing=() cmd
    for cmd in "${!pkg_for[@]}"; do has "$cmd" || missing+=("${pkg_for[$cmd]}"); done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
    for cmd in "${!pkg_for[@]}"; do has "$cmd" || die "$cmd still missing after install"; done
}

check_port_free() {
    if (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; then
        die "port $1 on $HOST is already in use (ORIGIN_PORT / EDGEWARD_PORT move ours)"
    fi
}

spawn() { # name core logfile cmd...
    local name=$1 core=$2 logfile=$3; shift 3
    taskset -c "$core" "$@" >"$logfile" 2>&1 &
    PIDS+=("$!")
    PID_OF[$name]=$!
}

wait_ready() { # name port logfile
    local name=$1 port=$2 logfile=$3 pid=${PID_OF[$1]}
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$name exited during start-up"; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' -A "$UA" "http://$HOST:$port/" || true) != 000 ]]; then
            return 0
        fi
        sleep 0.1
    done
    cat "$logfile" >&2
    die "$name did not answer on port $port within 10 s"
}

pid_tree() {
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do pid_tree "$child"; done
}

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

# -------------------------------------------------------------- the servers --

start_origin() {
    local dir="$WORK/origin"; mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path       $dir/tmp/proxy;
    fastcgi_temp_path     $dir/tmp/fastcgi;
    uwsgi_temp_path       $dir/tmp/uwsgi;
    scgi_temp_path        $dir/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {
        listen $HOST:$ORIGIN_PORT backlog=4096;
        location = / { return 200 "hello from origin\n"; }
        location /   { return 404 "origin 404\n"; }
    }
}
EOF
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" || die "origin nginx config invalid"
    spawn origin "$LOAD_CORE" "$dir/stdout.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_ready origin "$ORIGIN_PORT" "$dir/error.log"
}

# N custom rules, none matching the benchmark request (GET / from 127.0.0.1
# with a Firefox User-Agent), cycling through six shapes of expression.
generate_rules() { # count
    local n=$1 i
    for ((i = 1; i <= n; i++)); do
        local expr
        case $((i % 6)) in
            0) expr="http.request.uri.path eq \"/nomatch/$i\"" ;;
            1) expr="starts_with(http.request.uri.path, \"/private-$i/\")" ;;
            2) expr="http.request.uri.path matches \"^/api/v$i/[a-z]+/(internal|admin)\$\"" ;;
            3) expr="ip.src in {10.$((i % 256)).0.0/16 192.0.2.$((i % 256))/32 198.51.100.0/24 2001:db8:$i::/48}" ;;
            4) expr="http.request.headers[\"x-tenant\"] eq \"blocked-$i\" or http.referer contains \"spam-$i.example\"" ;;
            5) expr="lower(http.user_agent) contains \"badbot-$i\" and http.request.method ne \"OPTIONS\"" ;;
        esac
        printf '[[zones.rules]]\nid = "bench-%d"\nexpression = '"'"'%s'"'"'\naction = "block"\n\n' "$i" "$expr"
    done
}

start_edgeward() { # scenario
    local scenario=$1 dir="$WORK/edgeward-$1"; mkdir -p "$dir"
    {
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
        case $scenario in
            plain) printf '[zones.waf]\nenabled = false\n' ;;
            waf) ;;  # the default: WAF on at medium
            rules-*) printf '[zones.waf]\nenabled = false\n\n'; generate_rules "${scenario#rules-}" ;;
            *) die "unknown scenario $scenario" ;;
        esac
    } >"$dir/edgeward.toml"
    "$EDGEWARD_BIN" check "$dir/edgeward.toml" >"$dir/check.log" 2>&1 \
        || { cat "$dir/check.log" >&2; die "edgeward check rejected $dir/edgeward.toml"; }
    spawn edgeward "$PROXY_CORE" "$dir/edgeward.log" "$EDGEWARD_BIN" run "$dir/edgeward.toml"
    for _ in $(seq 100); do
        grep -q 'edgeward listening on' "$dir/edgeward.log" && break
        kill -0 "${PID_OF[edgeward]}" 2>/dev/null || break
        sleep 0.1
    done
    wait_ready edgeward "$EDGEWARD_PORT" "$dir/edgeward.log"
}

stop_edgeward() {
    local pid=${PID_OF[edgeward]} p rest=()
    stop_pid "$pid"
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || rest+=("$p"); done
    PIDS=("${rest[@]}")
}

# ---------------------------------------------------------------- running --

wrk_run() { # url seconds outfile
    taskset -c "$LOAD_CORE" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" --latency \
        -H "User-Agent: $UA" -H "Accept: text/html,*/*;q=0.8" -H "Accept-Language: en-GB,en;q=0.5" \
        -H "Cookie: _ga=GA1.2.1234.5678; theme=dark" -H "Referer: http://$HOST/previous?page=2" \
        "$1" >"$3" 2>&1 || { cat "$3" >&2; die "wrk failed against $1"; }
}

to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

measure() { # scenario
    local scenario=$1 url="http://$HOST:$EDGEWARD_PORT$REQ_PATH" out="$WORK/wrk-$1.txt" body code
    # The request must really pass every rule and reach the origin.
    body="$WORK/check-$scenario.body"
    code=$(curl -s -o "$body" -w '%{http_code}' -A "$UA" -H "Accept: text/html" "$url" || true)
    [[ $code == 200 ]] || die "$scenario: GET $REQ_PATH answered $code, expected 200 ($(head -c 300 "$body"))"
    grep -qF "hello from origin" "$body" || die "$scenario: body not from the origin"

    log "$scenario: warm-up ${WARMUP}s, then ${DURATION}s"
    wrk_run "$url" "$WARMUP" "$out.warmup"
    local before after
    before=$(cpu_ticks "${PID_OF[edgeward]}")
    wrk_run "$url" "$DURATION" "$out"
    after=$(cpu_ticks "${PID_OF[edgeward]}")

    local requests rps p50 p99 non2xx errors
    requests=$(awk '/ requests in /{print $1}' "$out")
    rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/{print $2}' "$out")
    errors=$(awk -F': *' '/Socket errors/{print $2}' "$out")
    [[ -n $requests && $requests -gt 0 && -n $rps && -n $p50 && -n $p99 ]] \
        || { cat "$out" >&2; die "could not parse wrk output for $scenario"; }
    local notes=""
    [[ -n $non2xx ]] && notes+="${non2xx} non-2xx! "
    [[ -n $errors ]] && notes+="socket errors: $errors "
    [[ -z $notes ]] || log "WARNING $scenario: $notes"

    local ticks=$((after - before)) cpu busy
    cpu=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')
    busy=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.0f%%", t / hz / d * 100 }')
    ROWS[$scenario]="$(printf '%.0f' "$rps")|$(to_ms "$p50")|$(to_ms "$p99")|$cpu|$busy|$notes"
}

describe() {
    case $1 in
        plain) echo "plain proxying (WAF off, no rules)" ;;
        waf) echo "managed WAF on (medium), no rules" ;;
        rules-*) echo "${1#rules-} custom rules, none matching (WAF off)" ;;
    esac
}

render_report() {
    local scenario row rps p50 p99 cpu busy notes ref vs
    echo "# edgeward rules benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), load average at start: $LOAD_AT_START"
    echo "- edgeward: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$( [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ' (uncommitted changes)'), workers = 1 on core $PROXY_CORE, EDGEWARD_LOG=$EDGEWARD_LOG"
    echo "- wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s warm-up) on core $LOAD_CORE with the nginx origin; GET $REQ_PATH with browser-like headers (UA, Accept, Accept-Language, Cookie, Referer)"
    echo
    echo "| scenario | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | CPU vs plain | CPU busy | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    ref=""
    [[ -n ${ROWS[plain]:-} ]] && ref=$(cut -d'|' -f4 <<<"${ROWS[plain]}")
    for scenario in $SCENARIOS; do
        row=${ROWS[$scenario]:-}
        [[ -n $row ]] || continue
        IFS='|' read -r rps p50 p99 cpu busy notes <<<"$row"
        if [[ -n $ref ]]; then vs=$(awk -v a="$cpu" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'); else vs="n/a"; fi
        echo "| $(describe "$scenario") | $rps | $p50 | $p99 | $cpu | $vs | $busy | $notes |"
    done
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    install_deps
    if [[ -z ${SKIP_BUILD:-} ]]; then
        log "building edgeward (release)"
        (cd "$ROOT" && cargo build --release -p edgeward) || die "cargo build failed"
    fi
    [[ -x "$EDGEWARD_BIN" ]] || die "no binary at $EDGEWARD_BIN"
    LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
    awk '{ exit !($1 > 0.5) }' /proc/loadavg \
        && log "WARNING: load average is $LOAD_AT_START; other work on this machine will skew the numbers"
    WORK=$(mktemp -d -t edgeward-rules-bench.XXXXXX)
    log "work dir: $WORK"
    check_port_free "$ORIGIN_PORT"; check_port_free "$EDGEWARD_PORT"
    start_origin
    local scenario
    for scenario in $SCENARIOS; do
        start_edgeward "$scenario"
        measure "$scenario"
        stop_edgeward
    done
    mkdir -p "$OUT_DIR"
    local report
    report="$OUT_DIR/rules-$(date -u +%Y-%m-%dT%H%M%SZ).md"
    render_report | tee "$report"
    log "saved $report"
}

main "$@"
