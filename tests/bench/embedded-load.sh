#!/usr/bin/env bash
# Load benchmark of the embedded engine through the real local server: POST
# /course-runs and GET /course-runs/{id}, each at two concurrencies, with wrk.
# Not part of tests/run (it takes a minute and its figures depend on the
# machine); run it by hand before and after touching the engine or the
# server:
#
#   tests/bench/embedded-load.sh                  # builds tms-local --release
#   TMS_BENCH_BIN=path/to/tms-local tests/bench/embedded-load.sh   # a given binary
#
# Settings (environment): TMS_BENCH_DURATION (10s per run),
# TMS_BENCH_CONNECTIONS ("8 32"), TMS_BENCH_THREADS (2), RUST_LOG (the
# server's own default, info: logs go to a file in the temp directory).
# Every request stays on loopback; the server gets a fresh SQLite file in a
# temp directory and is stopped (and the directory removed) at the end.
set -euo pipefail

cd "$(dirname "$0")/../.."
duration=${TMS_BENCH_DURATION:-10s}
connections=${TMS_BENCH_CONNECTIONS:-8 32}
threads=${TMS_BENCH_THREADS:-2}

if ! command -v wrk >/dev/null; then
    echo "wrk is missing: install it with 'apt-get install -y wrk' (Debian/Ubuntu)" >&2
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing wrk with apt-get" >&2
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
        exit 1
    fi
fi
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

bin=${TMS_BENCH_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -p tms-local
    bin="${CARGO_TARGET_DIR:-target}/release/tms-local"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tms-bench.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
TMS_BIND="127.0.0.1:$port" TMS_SQLITE_PATH="$work/tms.sqlite" TMS_ENGINE=embedded \
    "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "$base/course-runs" && break
    sleep 0.1
done

login() {
    curl -sf -X POST "$base/auth/login" -H 'content-type: application/json' \
        -d '{"email": "admin@tms.local", "password": "change me before use"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
# Every route but sign-in needs an access token (15 minutes: enough for a
# run): sign in as the first Admin tms-local makes on a fresh file.
token=$(login) || { echo "could not sign in; server log:" >&2; tail "$work/server.log" >&2; exit 1; }

# Each POST a run of its own dates: TPGateway (the in-process fake) refuses a
# second run of a course with the same dates, and the worker would then be
# recording refusals instead of publishing.
run_body() { # start date -> body
    local start=$1 end
    end=$(date -d "$start + 1 day" +%F)
    printf '{"course_ref":"TGS-2020000697","title":"Workplace Safety","registration_opening":"2025-01-01","registration_closing":"2025-01-10","start_date":"%s","end_date":"%s","delivery_mode":"classroom","capacity":20,"venue":{"floor":"03","unit":"01","postal_code":"408533","room":"R1"},"sessions":[{"session_date":"%s","start_time":"09:00","end_time":"18:00"}]}' "$start" "$end" "$start"
}
body=$(run_body 2025-01-15)

cat >"$work/bench.lua" <<'LUA'
local method = os.getenv("BENCH_METHOD")
local threads = {}
local counter = 0
function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end
function init(args)
    -- Each thread's runs start 100000 days apart: no two requests share dates.
    counter = id * 100000
end
wrk.method = method
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
function request()
    if method ~= "POST" then
        return wrk.format(nil, nil)
    end
    counter = counter + 1
    local start = os.time({year = 2025, month = 1, day = 15, hour = 12}) + counter * 86400
    local s = os.date("!%Y-%m-%d", start)
    local e = os.date("!%Y-%m-%d", start + 86400)
    local body = string.format('{"course_ref":"TGS-2020000697","title":"Workplace Safety","registration_opening":"2025-01-01","registration_closing":"2025-01-10","start_date":"%s","end_date":"%s","delivery_mode":"classroom","capacity":20,"venue":{"floor":"03","unit":"01","postal_code":"408533","room":"R1"},"sessions":[{"session_date":"%s","start_time":"09:00","end_time":"18:00"}]}', s, e, s)
    return wrk.format("POST", nil, {["Content-Type"] = "application/json",
        ["Authorization"] = wrk.headers["Authorization"]}, body)
end
function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "%-4s c=%-3s %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms   (%d requests, %d non-2xx, %d socket errors)\n",
        method, os.getenv("BENCH_CONNECTIONS"), summary.requests / secs,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# One run to read back (GET) before loading.
location=$(curl -s -D - -o /dev/null -X POST "$base/course-runs" \
    -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$body" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
[ -n "$location" ] || { echo "could not create a run; server log:" >&2; tail "$work/server.log" >&2; exit 1; }

# The worker handles each created run's sync message after the response:
# wait for it to catch up, so that no run is measured with the previous
# run's backlog still being worked off (at most 60 s).
drain() {
    python3 - "$work/tms.sqlite" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
for _ in range(600):
    if db.execute("SELECT COUNT(*) FROM queue_messages").fetchone()[0] == 0:
        break
    time.sleep(0.1)
PY
}

results=()
for c in $connections; do
    drain
    results+=("$(BENCH_METHOD=POST BENCH_TOKEN=$token BENCH_CONNECTIONS=$c wrk -t"$threads" -c"$c" -d"$duration" -s "$work/bench.lua" "$base/course-runs" | grep -E '^POST ')")
done
for c in $connections; do
    drain
    results+=("$(BENCH_METHOD=GET BENCH_TOKEN=$token BENCH_CONNECTIONS=$c wrk -t"$threads" -c"$c" -d"$duration" -s "$work/bench.lua" "$base$location" | grep -E '^GET ')")
done

echo "tms-local ($bin), wrk -t$threads -d$duration, $(nproc) cores"
printf '%s\n' "${results[@]}"
