#!/usr/bin/env bash
# HTTP/2 side by side: edgeward vs nginx as a single-worker reverse proxy
# speaking HTTP/2 to the client (h2c with prior knowledge, and h2 over TLS by
# ALPN) and HTTP/1.1 to the same nginx origin as run.sh, driven by h2load.
#
#   bash bench/h2.sh                                 # ~10 min: 8 rows × 3 repeats × (2 s + 10 s)
#   REPEATS=1 MODES=h2c LOADS="32x10" bash bench/h2.sh
#   TARGETS=nginx bash bench/h2.sh                   # without edgeward (e.g. it does not build)
#
# See bench/README.md ("HTTP/2: h2.sh") for what the numbers mean.
set -euo pipefail

# Shared machinery and settings: DURATION (10 s per measured run), WARMUP
# (2 s), PROXY_CORE (0, the proxy alone), LOAD_CORE (1, h2load and the
# origin), KEEP_TMP. CONNECTIONS and THREADS are wrk's and unused here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=h2-bench

# ---------------------------------------------------------------- settings --
TARGETS=${TARGETS:-"edgeward nginx"}
MODES=${MODES:-"h2c tls"}
# Each load is CONNECTIONSxSTREAMS: h2load -c CONNECTIONS -m STREAMS (streams
# in flight per connection).
LOADS=${LOADS:-"32x10 256x1"}
REPEATS=${REPEATS:-3}
export EDGEWARD_LOG=${EDGEWARD_LOG:-info,edgeward::access=off}

ORIGIN_PORT=${ORIGIN_PORT:-18200}
EDGEWARD_PORT=${EDGEWARD_PORT:-18280}          # plain: HTTP/1.1 and h2c prior knowledge
EDGEWARD_TLS_PORT=${EDGEWARD_TLS_PORT:-18283}  # TLS: ALPN h2 / http/1.1
NGINX_PORT=${NGINX_PORT:-18281}                # plain: h2c prior knowledge only (nginx 1.22)
NGINX_TLS_PORT=${NGINX_TLS_PORT:-18284}
PORT_HINT="the *_PORT variables"
TLS_NAME=localhost   # the certificate's name; resolves to 127.0.0.1 here

declare -A ROWS   # "mode|load|target|repeat" -> rps|p50|p99|cpu|busy|user|sys|notes

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

# -------------------------------------------------------------- the servers --

# edgeward: the base config (plain listener, which takes h2c by default), like
# for like with nginx (no WAF, no analytics), plus a TLS listener offering h2.
start_edgeward() {
    local dir="$WORK/edgeward"; mkdir -p "$dir"
    cp "$WORK/tls/cert.pem" "$WORK/tls/key.pem" "$dir/"
    { edgeward_base_toml
      cat <<EOF

[zones.waf]
enabled = false

[analytics]
enabled = false

[[tls]]
listen = "$HOST:$EDGEWARD_TLS_PORT"
http2 = true

[[tls.certificates]]
cert = "cert.pem"
key = "key.pem"
EOF
    } >"$dir/edgeward.toml"
    start_edgeward_in "$dir"
}

# nginx 1.22: `http2` on both listen lines (the plain one then speaks only
# h2c with prior knowledge), the same keep-alive upstream as run.sh.
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
        listen $HOST:$NGINX_PORT http2 backlog=4096;
        listen $HOST:$NGINX_TLS_PORT ssl http2 backlog=4096;
        ssl_certificate     $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        ssl_protocols TLSv1.3;   # 1.22 defaults to TLSv1–1.2; edgeward (rustls) negotiates 1.3
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

url_of() { # target mode
    local plain tls
    case $1 in
        edgeward) plain=$EDGEWARD_PORT; tls=$EDGEWARD_TLS_PORT ;;
        nginx)    plain=$NGINX_PORT;    tls=$NGINX_TLS_PORT ;;
    esac
    if [[ $2 == tls ]]; then echo "https://$TLS_NAME:$tls/"; else echo "http://$HOST:$plain/"; fi
}

# ---------------------------------------------------------------- running --

# The target must answer the origin's 200 over HTTP/2 on this URL; h2load
# must then report the protocol the row claims (h2c, or h2 by ALPN).
check_h2() { # target mode url
    local args=(--http2-prior-knowledge) version
    [[ $2 == tls ]] && args=(-k --http2)
    check_url "$1" "$3" 200 "has:hello from origin" "${args[@]}"
    version=$(curl -s -o /dev/null -w '%{http_version}' "${args[@]}" "$3" || true)
    [[ $version == 2 ]] || die "$1 answered $3 over HTTP/$version, not HTTP/2"
}

measure() { # mode load target repeat
    local mode=$1 load=$2 target=$3 rep=$4 url out proto notes=""
    url=$(url_of "$target" "$mode")
    out="$WORK/h2load-$target-$mode-$load-$rep.txt"
    check_h2 "$target" "$mode" "$url"
    h2load_measure "$mode $load / $target #$rep" "${PID_OF[$target]}" "$url" "$out" \
        -c "${load%x*}" -m "${load#*x}"
    proto=$(awk -F': *' '/^Application protocol:/{print $2}' "$out")
    [[ $proto == h2 || $proto == h2c ]] || die "h2load spoke '$proto' to $url, not HTTP/2"
    ((H2_FAILED == 0)) || notes+="$H2_FAILED failed/errored! "
    [[ $H2_2XX == "$H2_REQUESTS" ]] || notes+="only $H2_2XX/$H2_REQUESTS 2xx! "
    [[ -z $notes ]] || log "WARNING $mode $load / $target: $notes"
    ROWS["$mode|$load|$target|$rep"]="$(printf '%.0f' "$H2_RPS")|$H2_P50|$H2_P99|$CPU_MS_PER_1K|$CPU_BUSY|$CPU_USER_US|$CPU_SYS_US|$notes"
}

# --------------------------------------------------------------- reporting --

# Field n (1-based) of every repeat of a row, one per line.
field_of() { # mode load target n
    local rep
    for ((rep = 1; rep <= REPEATS; rep++)); do
        if [[ -n ${ROWS["$1|$2|$3|$rep"]:-} ]]; then
            cut -d'|' -f"$4" <<<"${ROWS["$1|$2|$3|$rep"]}" | tr -d '%'
        fi
    done
}

# "min–max" of numbers on stdin (one value when they agree or there is one).
range() { # [printf format]
    sort -g | awk -v fmt="${1:-%s}" 'NR == 1 { lo = $1 } { hi = $1 } END {
        if (NR == 0) { print "—"; exit }
        a = sprintf(fmt, lo); b = sprintf(fmt, hi); print (a == b) ? a : a "–" b }'
}

# Per repeat, edgeward's field n over nginx's (the pairs ran back to back).
ratio_range() { # mode load n
    paste <(field_of "$1" "$2" edgeward "$3") <(field_of "$1" "$2" nginx "$3") \
        | awk '$2 > 0 { printf "%.2f\n", $1 / $2 }' | range "%.2f×"
}

render_report() {
    local mode load target rep row notes
    echo "# edgeward HTTP/2 benchmark (h2load) — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    machine_line
    echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); h2load: $(h2load --version | awk '{print $2}'); $(openssl version | cut -d' ' -f1-2)"
    echo "- edgeward: $(edgeward_revision); EDGEWARD_LOG=$EDGEWARD_LOG; WAF and analytics off"
    echo "- h2load -t1 --warm-up-time=${WARMUP}s -D ${DURATION}s (connections and TLS handshakes made during the warm-up; CPU and percentiles cover the measured phase only) pinned to core $LOAD_CORE with the HTTP/1.1 nginx origin; proxy alone on core $PROXY_CORE, one worker each; GET / → 200 (18-byte body)"
    echo "- h2c = prior knowledge on a plain port; tls = TLS 1.3 + ALPN h2, self-signed ECDSA P-256 certificate for $TLS_NAME"
    echo "- $REPEATS repeats, interleaved; each cell is min–max over the repeats; 'vs nginx' pairs each repeat with the nginx run right after it"
    echo "- p50/p99 from h2load --log-file (time until each response ended); CPU = utime+stime of the proxy (nginx: master+worker) over the measured run"
    echo
    echo "| mode | load (-c × -m) | target | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | user / sys µs per req | CPU busy | CPU vs nginx | p99 vs nginx |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for mode in $MODES; do
        for load in $LOADS; do
            for target in edgeward nginx; do
                wants "$target" || continue
                local cpu_vs="—" p99_vs="—"
                if [[ $target == edgeward ]] && wants nginx; then
                    cpu_vs=$(ratio_range "$mode" "$load" 4); p99_vs=$(ratio_range "$mode" "$load" 3)
                fi
                echo "| $mode | ${load%x*} × ${load#*x} | $target | $(field_of "$mode" "$load" "$target" 1 | range) | $(field_of "$mode" "$load" "$target" 2 | range) | $(field_of "$mode" "$load" "$target" 3 | range) | $(field_of "$mode" "$load" "$target" 4 | range) | $(field_of "$mode" "$load" "$target" 6 | range) / $(field_of "$mode" "$load" "$target" 7 | range) | $(field_of "$mode" "$load" "$target" 5 | range "%s%%") | $cpu_vs | $p99_vs |"
            done
        done
    done
    echo
    echo "Every run:"
    echo
    echo "| mode | load | target | repeat | req/s | p50 (ms) | p99 (ms) | CPU ms / 1k req | CPU busy | user / sys µs | notes |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for ((rep = 1; rep <= REPEATS; rep++)); do
        for mode in $MODES; do
            for load in $LOADS; do
                for target in edgeward nginx; do
                    row=${ROWS["$mode|$load|$target|$rep"]:-}
                    [[ -n $row ]] || continue
                    IFS='|' read -r rps p50 p99 cpu busy user sys notes <<<"$row"
                    echo "| $mode | $load | $target | $rep | $rps | $p50 | $p99 | $cpu | $busy | $user / $sys | $notes |"
                done
            done
        done
    done
}

# -------------------------------------------------------------------- main --

main() {
    bench_setup nginx h2load openssl taskset curl pgrep getconf
    if wants edgeward; then
        edgeward_binary " (TARGETS=nginx runs without edgeward)"
    fi
    bench_workspace edgeward-h2-bench ORIGIN_PORT EDGEWARD_PORT EDGEWARD_TLS_PORT NGINX_PORT NGINX_TLS_PORT
    mkdir -p "$WORK/tls"
    self_signed_cert "$WORK/tls"

    start_origin
    # Both proxies' plain ports answer h2c with prior knowledge (nginx's only that).
    READY_CURL_ARGS=(--http2-prior-knowledge)
    if wants edgeward; then start_edgeward; fi
    if wants nginx; then start_nginx_proxy; fi

    local rep mode load target
    for ((rep = 1; rep <= REPEATS; rep++)); do
        for mode in $MODES; do
            for load in $LOADS; do
                for target in edgeward nginx; do
                    wants "$target" || continue
                    measure "$mode" "$load" "$target" "$rep"
                done
            done
        done
    done

    save_report h2 render_report
}

main "$@"
