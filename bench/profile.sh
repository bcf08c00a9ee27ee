#!/usr/bin/env bash
# Instructions per proxied HTTP/1.1 request under callgrind: edgeward (the
# release binary, which carries line tables) and, for comparison, nginx 1.22
# (one process, master_process off), each in front of the same native nginx
# origin as run.sh.
#
#   bash bench/profile.sh                          # ~5 min
#   REQUESTS=5000 TARGETS=edgeward bash bench/profile.sh
#   SKIP_BUILD=1 KEEP_TMP=1 bash bench/profile.sh  # keep the callgrind.out files
#
# Each target runs three times under `valgrind --tool=callgrind`: started,
# ready (one curl), then 0, REQUESTS and 2×REQUESTS requests of `GET /` over
# CONNECTIONS keep-alive connections (h2load --h1), then stopped with SIGTERM.
#   (Ir[REQUESTS] − Ir[0]) / REQUESTS    = instructions per request, start-up
#                                          subtracted (connection set-up and
#                                          first-use costs included)
#   (Ir[2×REQUESTS] − Ir[REQUESTS]) / REQUESTS = the steady state: the same
#                                          connections, only more requests
# The per-function tables are that steady-state difference, function by
# function (callgrind_annotate of both runs, subtracted), per request, after
# a table of self cost summed per crate/library; then
# who calls memcpy (moves of large values) and, for edgeward, the allocator's
# free (one per allocation), with calls per request.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=profile

TARGETS=${TARGETS:-"edgeward nginx"}
REQUESTS=${REQUESTS:-2000}
CONNECTIONS=${CONNECTIONS:-32}
TOP=${TOP:-15}
export EDGEWARD_LOG=${EDGEWARD_LOG:-info,edgeward::access=off}

ORIGIN_PORT=${ORIGIN_PORT:-18500}
EDGEWARD_PORT=${EDGEWARD_PORT:-18580}
NGINX_PORT=${NGINX_PORT:-18581}
PORT_HINT="the *_PORT variables"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

declare -A IR        # "target|requests" -> total Ir of that run
declare -A OUTFILE   # "target|requests" -> callgrind.out file

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

edgeward_config() { # dir
    { edgeward_base_toml; printf '\n[zones.waf]\nenabled = false\n\n[analytics]\nenabled = false\n'; } >"$1/edgeward.toml"
    "$EDGEWARD_BIN" check "$1/edgeward.toml" >"$1/check.log" 2>&1 \
        || { cat "$1/check.log" >&2; die "edgeward check rejected $1/edgeward.toml"; }
}

# The run.sh proxy, as one process (no master) so that callgrind sees the
# worker's own instructions.
nginx_config() { # dir
    { nginx_common "$1" | sed 's/^master_process on;/master_process off;/'
      echo "http {"; nginx_http_common "$1"
      cat <<EOF
    upstream origin { server $HOST:$ORIGIN_PORT; keepalive 256; keepalive_requests 10000000; }
    server {
        listen $HOST:$NGINX_PORT backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
    } >"$1/nginx.conf"
    nginx -t -q -p "$1" -e "$1/error.log" -c "$1/nginx.conf" || die "nginx config invalid ($1/nginx.conf)"
}

# One run under callgrind: start, one readiness request, n requests, SIGTERM.
callgrind_run() { # target n
    local target=$1 n=$2 dir port cmd=() out ready=""
    dir="$WORK/$target-$n"; mkdir -p "$dir/tmp"
    out="$dir/callgrind.out"
    case $target in
        edgeward) port=$EDGEWARD_PORT; edgeward_config "$dir"; cmd=("$EDGEWARD_BIN" run "$dir/edgeward.toml") ;;
        nginx)    port=$NGINX_PORT; nginx_config "$dir"; cmd=(nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf") ;;
    esac
    spawn "$target" "$PROXY_CORE" "$dir/stdout.log" \
        valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no "${cmd[@]}"
    # Under callgrind start-up takes seconds; a refused connect reaches no one,
    # so every run serves exactly one readiness request.
    for _ in $(seq 600); do
        kill -0 "${PID_OF[$target]}" 2>/dev/null || { cat "$dir/stdout.log" >&2; die "$target exited under callgrind"; }
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$port/" || true) == 200 ]]; then ready=1; break; fi
        sleep 0.2
    done
    [[ -n $ready ]] || die "$target did not answer under callgrind within 120 s"
    if ((n > 0)); then
        taskset -c "$LOAD_CORE" h2load --h1 -n "$n" -c "$CONNECTIONS" -m 1 "http://$HOST:$port/" >"$dir/h2load.txt" 2>&1 \
            || { cat "$dir/h2load.txt" >&2; die "h2load failed against $target"; }
        grep -q "^requests: $n total, $n started, $n done, $n succeeded" "$dir/h2load.txt" \
            || { cat "$dir/h2load.txt" >&2; die "not every request to $target succeeded"; }
        grep -q "^status codes: $n 2xx" "$dir/h2load.txt" || { cat "$dir/h2load.txt" >&2; die "$target: non-2xx answers"; }
    fi
    stop_target "$target"   # SIGTERM: graceful exit, callgrind writes its file
    [[ -s $out ]] || die "callgrind wrote no profile for $target ($dir/stdout.log)"
    IR["$target|$n"]=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
    OUTFILE["$target|$n"]=$out
    log "$target, $n requests: ${IR["$target|$n"]} Ir"
}

# Per function, (b − a) / n (bench/callgrind_diff.py): the top TOP rows as
# "Ir-per-request|share|function"; with "callers", who calls a function.
function_diff() { # self|inclusive|components|callers file-a file-b n total-per-request|function
    python3 "$SCRIPT_DIR/callgrind_diff.py" "$1" "$2" "$3" "$4" "$5" "$TOP"
}

render_report() {
    local target a b c per first steady
    echo "# edgeward instructions per request (callgrind) — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- $(valgrind --version); edgeward: $(edgeward_revision) (release profile: thin LTO, line tables); nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //') (Debian build)"
    echo "- GET / → 200 through the proxy to the native nginx origin; h2load --h1 -c $CONNECTIONS -m 1; one readiness request in every run"
    echo "- Ir = instructions executed by the proxy process (all threads), from callgrind's totals"
    echo
    echo "| target | Ir, 0 requests | Ir, $REQUESTS | Ir, $((2 * REQUESTS)) | Ir per request (0 → $REQUESTS) | Ir per request ($REQUESTS → $((2 * REQUESTS)), steady) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for target in edgeward nginx; do
        wants "$target" || continue
        a=${IR["$target|0"]}; b=${IR["$target|$REQUESTS"]}; c=${IR["$target|$((2 * REQUESTS))"]}
        first=$(( (b - a) / REQUESTS )); steady=$(( (c - b) / REQUESTS ))
        echo "| $target | $a | $b | $c | $first | $steady |"
    done
    for target in edgeward nginx; do
        wants "$target" || continue
        a=${IR["$target|$REQUESTS"]}; c=${IR["$target|$((2 * REQUESTS))"]}
        per=$(( (c - a) / REQUESTS ))
        echo
        echo "$target, self cost by component (steady state, Ir per request):"
        echo
        echo "| Ir / req | share | component |"
        echo "|---:|---:|---|"
        function_diff components "${OUTFILE["$target|$REQUESTS"]}" "${OUTFILE["$target|$((2 * REQUESTS))"]}" "$REQUESTS" "$per" \
            | awk -F'|' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }'
        for kind in self inclusive; do
            echo
            if [[ $kind == self ]]; then echo "$target, top $TOP functions by self cost (steady state, Ir per request):"
            else echo "$target, top $TOP functions by inclusive cost (steady state, Ir per request):"; fi
            echo
            echo "| Ir / req | share | function |"
            echo "|---:|---:|---|"
            function_diff "$kind" "${OUTFILE["$target|$REQUESTS"]}" "${OUTFILE["$target|$((2 * REQUESTS))"]}" "$REQUESTS" "$per" \
                | awk -F'|' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }'
        done
        local fn
        for fn in __memcpy_avx_unaligned_erms mi_free; do
            [[ $fn == mi_free && $target != edgeward ]] && continue
            echo
            echo "$target, callers of \`$fn\` (steady state, per request):"
            echo
            echo "| Ir / req | calls / req | caller |"
            echo "|---:|---:|---|"
            function_diff callers "${OUTFILE["$target|$REQUESTS"]}" "${OUTFILE["$target|$((2 * REQUESTS))"]}" "$REQUESTS" "$fn" \
                | awk -F'|' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }'
        done
    done
}

main() {
    bench_setup nginx valgrind h2load python3 taskset curl pgrep getconf
    has callgrind_annotate || die "callgrind_annotate missing (package valgrind)"
    if wants edgeward; then
        edgeward_binary
    fi
    bench_workspace edgeward-profile ORIGIN_PORT EDGEWARD_PORT NGINX_PORT
    start_origin
    local target n
    for target in edgeward nginx; do
        wants "$target" || continue
        for n in 0 "$REQUESTS" $((2 * REQUESTS)); do callgrind_run "$target" "$n"; done
    done
    save_report profile render_report
}

main "$@"
