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

# The machinery shared with run.sh and analytics.sh, and the settings they
# share: DURATION (10 s per measured run), WARMUP (2 s), CONNECTIONS (32),
# THREADS (1), PROXY_CORE (0, edgeward alone), LOAD_CORE (1, wrk and the
# origin), KEEP_TMP.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=rules-bench

# ---------------------------------------------------------------- settings --
SCENARIOS=${SCENARIOS:-"plain waf rules-50 rules-500"}
export EDGEWARD_LOG=${EDGEWARD_LOG:-warn}
ORIGIN_PORT=${ORIGIN_PORT:-18600}
EDGEWARD_PORT=${EDGEWARD_PORT:-18680}
# SKIP_BUILD=1 uses target/release/edgeward as it is.
# A browser-like request, so that header-reading rules and the WAF have real work.
UA="Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
BROWSER_HEADERS=(-H "User-Agent: $UA" -H "Accept: text/html,*/*;q=0.8" -H "Accept-Language: en-GB,en;q=0.5"
                 -H "Cookie: _ga=GA1.2.1234.5678; theme=dark" -H "Referer: http://$HOST/previous?page=2")
READY_CURL_ARGS=(-A "$UA")
REQ_PATH=/

declare -A ROWS     # scenario -> rendered measurements

# -------------------------------------------------------------- the servers --

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

# edgeward from lib.sh's base config plus the scenario's WAF setting and rules.
start_edgeward() { # scenario
    local scenario=$1 dir="$WORK/edgeward-$1"; mkdir -p "$dir"
    {
        edgeward_base_toml
        case $scenario in
            plain) printf '[zones.waf]\nenabled = false\n' ;;
            waf) ;;  # the default: WAF on at medium
            rules-*) printf '[zones.waf]\nenabled = false\n\n'; generate_rules "${scenario#rules-}" ;;
            *) die "unknown scenario $scenario" ;;
        esac
    } >"$dir/edgeward.toml"
    start_edgeward_in "$dir"
}

# ---------------------------------------------------------------- running --

measure() { # scenario
    local scenario=$1
    # The request must really pass every rule and reach the origin.
    check_response "$scenario" "$EDGEWARD_PORT" "$REQ_PATH" 200 "has:hello from origin" -A "$UA" -H "Accept: text/html"
    wrk_measure "$scenario" "${PID_OF[edgeward]}" "http://$HOST:$EDGEWARD_PORT$REQ_PATH" "$WORK/wrk-$scenario.txt" \
        "${BROWSER_HEADERS[@]}"
    ROWS[$scenario]="$(wrk_row)|$(wrk_notes 200 "$scenario")"
}

# --------------------------------------------------------------- reporting --

describe() {
    case $1 in
        plain) echo "plain proxying (WAF off, no rules)" ;;
        waf) echo "managed WAF on (medium), no rules" ;;
        rules-*) echo "${1#rules-} custom rules, none matching (WAF off)" ;;
    esac
}

render_report() {
    local scenario row rps p50 p99 cpu busy user sys notes ref
    echo "# edgeward rules benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- edgeward: $(edgeward_revision), workers = 1 on core $PROXY_CORE, EDGEWARD_LOG=$EDGEWARD_LOG"
    echo "- wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s warm-up) on core $LOAD_CORE with the nginx origin; GET $REQ_PATH with browser-like headers (UA, Accept, Accept-Language, Cookie, Referer)"
    echo
    echo "| scenario | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | CPU vs plain | CPU busy | user / sys µs per req | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    ref=""
    [[ -n ${ROWS[plain]:-} ]] && ref=$(cut -d'|' -f4 <<<"${ROWS[plain]}")
    for scenario in $SCENARIOS; do
        row=${ROWS[$scenario]:-}
        [[ -n $row ]] || continue
        IFS='|' read -r rps p50 p99 cpu busy user sys notes <<<"$row"
        echo "| $(describe "$scenario") | $rps | $p50 | $p99 | $cpu | $(cpu_vs "$cpu" "$ref") | $busy | $user / $sys | $notes |"
    done
}

# -------------------------------------------------------------------- main --

main() {
    bench_setup nginx wrk taskset curl pgrep getconf
    edgeward_binary
    bench_workspace edgeward-rules-bench ORIGIN_PORT EDGEWARD_PORT
    start_origin
    local scenario
    for scenario in $SCENARIOS; do
        start_edgeward "$scenario"
        measure "$scenario"
        stop_target edgeward
    done
    save_report rules render_report
}

main "$@"
