#!/usr/bin/env bash
# Rapid reset (CVE-2023-44487) measured, not tested: one HTTP/2 connection
# opens and resets 10,000 streams as fast as it can while a second connection
# makes ordinary requests (100/s). Reports the proxy's CPU and RSS during the
# attack, and whether — and how fast — the ordinary requests kept succeeding.
#
#   bash bench/rapid_reset.sh                     # edgeward and nginx, ~1 min
#   STREAMS=100000 TARGETS=edgeward bash bench/rapid_reset.sh
#   SKIP_BUILD=1 bash bench/rapid_reset.sh
#
# Three variants per target: "single" (one connection; the attack stops when
# the proxy closes it), "reconnect" (new connections until STREAMS streams
# were sent in all) and "sustained" (the same until SUSTAINED_STREAMS, long
# enough for the CPU and RSS readings and the probe to mean something).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=rapid-reset

TARGETS=${TARGETS:-"edgeward nginx"}
VARIANTS=${VARIANTS:-"single reconnect sustained"}
STREAMS=${STREAMS:-10000}
SUSTAINED_STREAMS=${SUSTAINED_STREAMS:-1000000}
BEFORE=${BEFORE:-2}        # seconds of probing before the attack, and after it
PROBE_INTERVAL=${PROBE_INTERVAL:-0.01}
export EDGEWARD_LOG=${EDGEWARD_LOG:-warn}

ORIGIN_PORT=${ORIGIN_PORT:-18400}
EDGEWARD_PORT=${EDGEWARD_PORT:-18480}
NGINX_PORT=${NGINX_PORT:-18481}
PORT_HINT="the *_PORT variables"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

declare -A RESULT   # "target|variant" -> rendered row

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

start_edgeward() {
    local dir="$WORK/edgeward"; mkdir -p "$dir"
    { edgeward_base_toml; printf '\n[zones.waf]\nenabled = false\n\n[analytics]\nenabled = false\n'; } >"$dir/edgeward.toml"
    start_edgeward_in "$dir"
}

# nginx 1.22 with h2c on a plain port, the same upstream as h2.sh.
start_nginx_proxy() {
    local dir="$WORK/nginx-proxy"; mkdir -p "$dir/tmp"
    { nginx_common "$dir"
      echo "http {"; nginx_http_common "$dir"
      cat <<EOF
    upstream origin { server $HOST:$ORIGIN_PORT; keepalive 256; }
    server {
        listen $HOST:$NGINX_PORT http2 backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    start_nginx nginx "$PROXY_CORE" "$NGINX_PORT" "$dir"
}

port_of() { case $1 in edgeward) echo "$EDGEWARD_PORT" ;; nginx) echo "$NGINX_PORT" ;; esac; }

# Every 100 ms: "epoch-µs rss-KiB" of the target, until the stop file exists.
sample_rss() { # pid outfile stopfile
    while [[ ! -e $3 ]]; do
        echo "$(($(date +%s%N) / 1000)) $(rss_kib "$1")" >>"$2"
        sleep 0.1
    done
}

# Probe lines in [from, to) µs: "n ok p50 p99 max" (ms) of their latencies.
probe_window() { # logfile from-us to-us
    awk -F'\t' -v a="$2" -v b="$3" '$1 >= a && $1 < b { print $3, ($2 >= 200 && $2 < 300) }' "$1" \
        | sort -n | awk '{ v[NR] = $1; ok += $2 } END {
            if (NR == 0) { print "0 0 — — —"; exit }
            i50 = int(NR * 0.5); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%d %d %.2f %.2f %.2f\n", NR, ok, v[i50] / 1000, v[i99] / 1000, v[NR] / 1000 }'
}

run_variant() { # target variant
    local target=$1 variant=$2 port pid dir cpu0 cpu1 rss0 rss1 attack_json start_us end_us
    local extra=() probe_secs
    port=$(port_of "$target"); pid=${PID_OF[$target]}
    dir="$WORK/$target-$variant"; mkdir -p "$dir"
    local streams=$STREAMS
    [[ $variant == single ]] || extra=(--reconnect --linger 0.2)
    [[ $variant == sustained ]] && streams=$SUSTAINED_STREAMS
    check_url "$target" "http://$HOST:$port/" 200 "has:hello from origin" --http2-prior-knowledge

    # The probe runs long enough to cover before + attack (bounded) + after.
    probe_secs=$((BEFORE * 2 + 120))
    taskset -c "$LOAD_CORE" python3 "$SCRIPT_DIR/rapid_reset.py" probe --port "$port" \
        --duration "$probe_secs" --interval "$PROBE_INTERVAL" --out "$dir/probe.tsv" >"$dir/probe.json" 2>"$dir/probe.err" &
    local probe_pid=$!
    PIDS+=("$probe_pid")
    sample_rss "$pid" "$dir/rss.txt" "$dir/stop" &
    local sampler=$!
    PIDS+=("$sampler")
    sleep "$BEFORE"

    log "$target / $variant: $streams streams opened and reset"
    rss0=$(rss_kib "$pid")
    cpu0=$(cpu_ticks_split "$pid")
    attack_json=$(taskset -c "$LOAD_CORE" python3 "$SCRIPT_DIR/rapid_reset.py" attack --port "$port" \
        --streams "$streams" "${extra[@]}" 2>"$dir/attack.err") || { cat "$dir/attack.err" >&2; die "attack script failed"; }
    cpu1=$(cpu_ticks_split "$pid")
    rss1=$(rss_kib "$pid")
    echo "$attack_json" >"$dir/attack.json"
    sleep "$BEFORE"
    kill "$probe_pid" 2>/dev/null || true   # it has seen enough: before, during, after
    wait "$probe_pid" 2>/dev/null || true
    touch "$dir/stop"; wait "$sampler" 2>/dev/null || true
    kill -0 "$pid" 2>/dev/null || die "$target died during the attack"

    local secs sent conns goaway u0 s0 u1 s1 cpu_ms busy peak before during after
    IFS=$'\t' read -r start_us end_us secs sent conns goaway < <(python3 -c '
import json, sys
r = json.load(sys.stdin)
print("\t".join(str(r[k]) for k in ("start_us", "end_us", "seconds", "streams_sent", "connections", "goaway_summary")))' <<<"$attack_json")
    [[ -n $end_us && -n $goaway ]] || die "could not read the attack's result: $attack_json"
    read -r u0 s0 <<<"$cpu0"; read -r u1 s1 <<<"$cpu1"
    cpu_ms=$(awk -v t=$((u1 - u0 + s1 - s0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t / hz * 1000 }')
    busy=$(awk -v t=$((u1 - u0 + s1 - s0)) -v hz="$CLK_TCK" -v d="$secs" 'BEGIN { printf "%.0f%%", (d > 0) ? t / hz / d * 100 : 0 }')
    peak=$(awk -v a="$start_us" -v b="$end_us" '$1 >= a && $1 <= b + 100000 && $2 > m { m = $2 } END { print m + 0 }' "$dir/rss.txt")
    ((peak >= rss1)) || peak=$rss1
    before=$(probe_window "$dir/probe.tsv" $((start_us - BEFORE * 1000000)) "$start_us")
    during=$(probe_window "$dir/probe.tsv" "$start_us" "$end_us")
    after=$(probe_window "$dir/probe.tsv" "$end_us" $((end_us + BEFORE * 1000000)))
    RESULT["$target|$variant"]="$secs|$sent|$conns|$goaway|$cpu_ms|$(awk -v t=$((u1 - u0)) -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", t/hz*1000}') / $(awk -v t=$((s1 - s0)) -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", t/hz*1000}')|$busy|$((rss0 / 1024)) → $((peak / 1024)) ($((rss1 / 1024)) after)|$before|$during|$after|$(cat "$dir/probe.json" 2>/dev/null)"
    log "$target / $variant: ${secs}s, $sent streams over $conns connection(s), GOAWAY: $goaway, CPU ${cpu_ms} ms"
}

# "n ok p50 p99 max" -> "ok/n, p50 / p99 / max ms"
probe_cell() { # n ok p50 p99 max
    [[ $1 == 0 ]] && { echo "no request"; return; }
    echo "$2/$1 ok, $3 / $4 / $5"
}

render_report() {
    local target variant secs sent conns goaway cpu split busy rss before during after summary
    echo "# edgeward rapid-reset measurement — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- edgeward: $(edgeward_revision), workers = 1 on core $PROXY_CORE, EDGEWARD_LOG=$EDGEWARD_LOG; nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //') (1 worker, core $PROXY_CORE); both h2c with prior knowledge in front of the HTTP/1.1 nginx origin (core $LOAD_CORE)"
    echo "- attack (bench/rapid_reset.py, core $LOAD_CORE): HEADERS(GET /, END_STREAM) + RST_STREAM(CANCEL) per stream, 100 streams per write, $STREAMS streams; 'single' = one connection, stops when the proxy closes it; 'reconnect' = new connections until $STREAMS were sent; 'sustained' = the same until $SUSTAINED_STREAMS"
    echo "- probe: a second HTTP/2 connection, GET / every ${PROBE_INTERVAL}s, one at a time (python h2, core $LOAD_CORE); latency cells are ok/sent, p50 / p99 / max in ms over the ${BEFORE}s before, the attack, the ${BEFORE}s after"
    echo "- CPU = utime+stime of the proxy over the attack (user / sys ms); RSS = VmRSS before → peak during (after), MiB"
    echo
    echo "| target | variant | attack s | streams sent | conns | GOAWAY | CPU ms | user / sys ms | CPU busy | RSS MiB | probe before | probe during | probe after |"
    echo "|---|---|---:|---:|---:|---|---:|---:|---:|---|---|---|---|"
    for target in edgeward nginx; do
        for variant in $VARIANTS; do
            [[ -n ${RESULT["$target|$variant"]:-} ]] || continue
            IFS='|' read -r secs sent conns goaway cpu split busy rss before during after summary <<<"${RESULT["$target|$variant"]}"
            # shellcheck disable=SC2086
            echo "| $target | $variant | $secs | $sent | $conns | $goaway | $cpu | $split | $busy | $rss | $(probe_cell $before) | $(probe_cell $during) | $(probe_cell $after) |"
        done
    done
}

main() {
    bench_setup nginx python3 taskset curl pgrep getconf
    python3 -c 'import h2' 2>/dev/null || die "the probe needs the python h2 package (pip install h2)"
    if wants edgeward; then
        edgeward_binary
    fi
    bench_workspace edgeward-rapid-reset ORIGIN_PORT EDGEWARD_PORT NGINX_PORT
    start_origin
    READY_CURL_ARGS=(--http2-prior-knowledge)
    local target variant
    for target in edgeward nginx; do
        wants "$target" || continue
        if [[ $target == edgeward ]]; then start_edgeward; else start_nginx_proxy; fi
        for variant in $VARIANTS; do run_variant "$target" "$variant"; done
        stop_target "$target"
    done
    save_report rapid-reset render_report
}

main "$@"
