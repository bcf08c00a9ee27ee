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

# The machinery shared with rules.sh and analytics.sh, and the settings they
# share: DURATION (10 s per measured run), WARMUP (2 s), CONNECTIONS (32),
# THREADS (1), PROXY_CORE (0, the proxy under test alone), LOAD_CORE (1, wrk
# and the origin), KEEP_TMP.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- settings --
TARGETS=${TARGETS:-"origin edgeward nginx haproxy"}
EDGEWARD_WAF=${EDGEWARD_WAF:-false}
EDGEWARD_ANALYTICS=${EDGEWARD_ANALYTICS:-false}
# nginx and HAProxy run with access logs off; edgeward's per-request access
# log (target edgeward::access) is switched off the same way to compare like
# with like. EDGEWARD_LOG=info benchmarks it with the access log on.
export EDGEWARD_LOG=${EDGEWARD_LOG:-info,edgeward::access=off}

# Fixed high loopback ports; the script refuses to run if one is taken
# (override one with e.g. HAPROXY_PORT=18092 if something else holds it).
ORIGIN_PORT=${ORIGIN_PORT:-18000}
EDGEWARD_PORT=${EDGEWARD_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
HAPROXY_PORT=${HAPROXY_PORT:-18082}
PORT_HINT="the *_PORT variables"

declare -A ROWS     # "scenario|target" -> rendered measurements

# Is this target (origin edgeward nginx haproxy) in TARGETS?
wants() { [[ " $TARGETS " == *" $1 "* ]]; }

# -------------------------------------------------------------- the servers --

# edgeward from lib.sh's base config, plus the sections that keep it like
# for like with the other two proxies.
start_edgeward() {
    local dir="$WORK/edgeward"; mkdir -p "$dir"
    { edgeward_base_toml
      cat <<EOF

# Like for like with the nginx and HAProxy proxies, which inspect nothing and
# record nothing: the managed WAF and analytics are off unless asked for
# (EDGEWARD_WAF=true / EDGEWARD_ANALYTICS=true; bench/rules.sh and
# bench/analytics.sh measure what each costs).
[zones.waf]
enabled = $EDGEWARD_WAF

[analytics]
enabled = $EDGEWARD_ANALYTICS
EOF
    } >"$dir/edgeward.toml"
    start_edgeward_in "$dir"
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

# ---------------------------------------------------------------- running --

# One row: check the target answers what the row claims, warm up, measure
# wrk + the target's CPU, store.
measure() { # scenario target path expected body-rule
    local scenario=$1 target=$2 path=$3 expected=$4 rule=$5 port
    port=$(port_of "$target")
    check_response "$target" "$port" "$path" "$expected" "$rule"
    wrk_measure "$scenario / $target" "${PID_OF[$target]}" "http://$HOST:$port$path" \
        "$WORK/wrk-${target}-$(echo "$path" | tr -c 'a-zA-Z0-9' '_').txt"
    ROWS["$scenario|$target"]="$(wrk_row)|$(wrk_notes "$expected" "$scenario / $target")"
}

# --------------------------------------------------------------- reporting --

render_report() {
    local scenario target row rps p50 p99 cpu busy user sys notes ref vs
    echo "# edgeward side-by-side benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); haproxy: $(haproxy -v | awk 'NR==1{print $3}'); wrk: $( (wrk --version 2>&1 || true) | awk 'NR==1{print $2}')"
    echo "- edgeward: $(edgeward_revision)"
    echo "- wrk: -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up), pinned to core $LOAD_CORE with the origin; proxy under test alone on core $PROXY_CORE, one worker each"
    echo "- edgeward log filter: EDGEWARD_LOG=$EDGEWARD_LOG (nginx and HAProxy: access logs off)"
    echo "- CPU = utime+stime of the proxy's processes (nginx: master+worker) over the measured run; 'CPU busy' = share of one core; user / sys = utime / stime per request"
    echo
    echo "| scenario | target | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | CPU vs nginx | CPU busy | user / sys µs per req | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for scenario in "${SCENARIOS[@]}"; do
        ref=""
        [[ -n ${ROWS["$scenario|nginx"]:-} ]] && ref=$(cut -d'|' -f4 <<<"${ROWS["$scenario|nginx"]}")
        for target in origin edgeward nginx haproxy; do
            row=${ROWS["$scenario|$target"]:-}
            [[ -n $row ]] || continue
            IFS='|' read -r rps p50 p99 cpu busy user sys notes <<<"$row"
            if [[ $target == origin ]]; then vs="—"; else vs=$(cpu_vs "$cpu" "$ref"); fi
            local label=$target
            [[ $target == origin ]] && label="direct origin (nginx)"
            echo "| $scenario | $label | $rps | $p50 | $p99 | $cpu | $vs | $busy | $user / $sys | $notes |"
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
    bench_setup nginx haproxy wrk taskset curl pgrep getconf
    if wants edgeward; then edgeward_binary " (TARGETS=\"origin nginx haproxy\" runs the rest without edgeward)"; fi
    (($(nproc) >= 2)) || log "WARNING: fewer than 2 cores; pinning cannot separate load from proxy"
    bench_workspace edgeward-bench ORIGIN_PORT EDGEWARD_PORT NGINX_PORT HAPROXY_PORT

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

    save_report results render_report
}

main "$@"
