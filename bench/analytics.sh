#!/usr/bin/env bash
# What analytics costs the proxy: edgeward (one worker, pinned to core 0) in
# front of an nginx origin, driven by wrk, with [analytics] off, on with the
# in-memory store, and on with a file-backed store; plus the events/s the
# SQLite store sustains on its own (the edgeward-analytics `events` example).
#
#   bash bench/analytics.sh                 # 3 rows × (2 s warm-up + 10 s) + the store example
#   DURATION=30 CONNECTIONS=64 bash bench/analytics.sh
#   MODES="off file" EVENTS=500000 bash bench/analytics.sh
#   SKIP_BUILD=1 bash bench/analytics.sh    # use target/release/edgeward as is
#
# Same method as bench/run.sh (see bench/README.md): wrk and the origin share
# core 1, the proxy has core 0 alone (all its threads, including the analytics
# writer, so the writer's CPU is in the proxy's number).
set -euo pipefail

# The machinery shared with run.sh and rules.sh, and the settings they share:
# DURATION (10 s per measured run), WARMUP (2 s), CONNECTIONS (32), THREADS
# (1), PROXY_CORE (0, edgeward alone), LOAD_CORE (1, wrk and the origin),
# KEEP_TMP.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODES=${MODES:-"off memory file"}
EVENTS=${EVENTS:-200000}          # events for the store example
ORIGIN_PORT=${ORIGIN_PORT:-18700}
EDGEWARD_PORT=${EDGEWARD_PORT:-18780}
ADMIN_PORT=${ADMIN_PORT:-18781}
# Warnings only in every mode: no access log, so the rows differ by analytics alone.
export EDGEWARD_LOG=warn

declare -A ROW      # mode -> rendered measurements

# mode: off | memory | file — lib.sh's base config plus [analytics], and the
# admin listener whose /metrics tells how many events were stored.
start_edgeward() {
    local mode=$1 dir="$WORK/edgeward-$1"; mkdir -p "$dir"
    {
        edgeward_base_toml
        echo
        case $mode in
            off)    printf '[analytics]\nenabled = false\n' ;;
            memory) printf '[admin]\nlisten = "%s:%s"\n\n[analytics]\nenabled = true\n' "$HOST" "$ADMIN_PORT" ;;
            file)   printf '[admin]\nlisten = "%s:%s"\n\n[analytics]\nenabled = true\npath = "events.sqlite"\n' "$HOST" "$ADMIN_PORT" ;;
        esac
    } >"$dir/edgeward.toml"
    start_edgeward_in "$dir" "edgeward ($mode)"
}

metric() { # name: its value on the admin listener's /metrics
    curl -s "http://$HOST:$ADMIN_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

measure() { # mode
    local mode=$1 notes stored="—" dropped="—"
    check_response "$mode" "$EDGEWARD_PORT" / 200 "has:hello from origin"
    wrk_measure "analytics $mode" "${PID_OF[edgeward]}" "http://$HOST:$EDGEWARD_PORT/" "$WORK/wrk-$mode.txt"
    notes=$(wrk_notes 200 "analytics $mode")
    if [[ $mode != off ]]; then
        # Let the writer catch up (flush interval ~1 s), then read its counters.
        sleep 2
        stored=$(metric edgeward_analytics_events_written_total)
        dropped=$(metric edgeward_analytics_events_dropped_total)
        [[ ${dropped:-0} == 0 ]] || notes+="events dropped! "
    fi
    ROW[$mode]="$(wrk_row)|$stored|$dropped|$notes"
}

label() {
    case $1 in
        off) echo "analytics off" ;; memory) echo "on, in-memory SQLite" ;; file) echo "on, file SQLite (WAL)" ;;
    esac
}

report() {
    local mode rps p50 p99 cpu busy user sys stored dropped notes ref=""
    [[ -n ${ROW[off]:-} ]] && ref=$(cut -d'|' -f4 <<<"${ROW[off]}")
    echo "# edgeward analytics on/off — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- edgeward: $(edgeward_revision), workers = 1 on core $PROXY_CORE; EDGEWARD_LOG=$EDGEWARD_LOG"
    echo "- wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s warm-up) on core $LOAD_CORE with the nginx origin; GET / → 200"
    echo "- 'stored' = edgeward_analytics_events_written_total after the row (warm-up + run + the check request)"
    echo
    echo "| edgeward | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | vs off | CPU busy | user / sys µs per req | stored | dropped | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for mode in off memory file; do
        [[ -n ${ROW[$mode]:-} ]] || continue
        IFS='|' read -r rps p50 p99 cpu busy user sys stored dropped notes <<<"${ROW[$mode]}"
        echo "| $(label "$mode") | $rps | $p50 | $p99 | $cpu | $(cpu_vs "$cpu" "$ref" percent) | $busy | $user / $sys | $stored | $dropped | $notes |"
    done
    if [[ -n ${STORE_OUT:-} ]]; then
        echo
        echo "The store alone (\`cargo run --release -p edgeward-analytics --example events $EVENTS\`, not pinned):"
        echo
        echo '```'
        echo "$STORE_OUT"
        echo '```'
    fi
}

main() {
    bench_setup nginx wrk taskset curl pgrep getconf
    if [[ -z ${SKIP_BUILD:-} ]]; then
        log "building edgeward and the events example (release)"
        (cd "$ROOT" && cargo build --release -q -p edgeward && cargo build --release -q -p edgeward-analytics --example events) \
            || die "cargo build failed"
    fi
    require_edgeward_bin
    bench_workspace edgeward-bench-analytics ORIGIN_PORT EDGEWARD_PORT ADMIN_PORT
    local mode
    start_origin
    for mode in $MODES; do
        [[ $mode =~ ^(off|memory|file)$ ]] || die "unknown mode $mode (off, memory, file)"
        start_edgeward "$mode"
        measure "$mode"
        stop_target edgeward
    done
    log "the store alone: $EVENTS events"
    STORE_OUT=$(cd "$ROOT" && cargo run --release -q -p edgeward-analytics --example events "$EVENTS") \
        || die "the events example failed"
    save_report analytics report
}

main "$@"
