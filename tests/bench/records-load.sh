#!/usr/bin/env bash
# Load benchmark of the trainee and enrolment routes through the real local
# server on the embedded engine: GET /trainees/{id} and POST /enrolments
# (each request a new trainee and run pair), each at two concurrencies, with
# wrk; and how much of the machine wrk itself took beside the server. Not
# part of tests/run (it takes about a minute and its figures depend on the
# machine); run it by hand before and after touching these routes, the
# engine or the server:
#
#   tests/bench/records-load.sh                  # builds tms-local --release
#   TMS_BENCH_BIN=path/to/tms-local tests/bench/records-load.sh   # a given binary
#
# Settings (environment): TMS_BENCH_DURATION (10s per run),
# TMS_BENCH_CONNECTIONS ("8 32"), TMS_BENCH_THREADS (2), TMS_BENCH_RUNS and
# TMS_BENCH_TRAINEES (the pool of enrolment pairs, 300 x 300: see below),
# RUST_LOG (the server's own default, info: logs go to a file in the temp
# directory). Every request stays on loopback; the server gets a fresh
# SQLite file in a temp directory and is stopped (and the directory
# removed) at the end.
#
# Every route but sign-in needs an access token, in tms-local too (it has no
# open mode): the script signs in as the Admin that tms-local creates on its
# first start (admin@tms.local, see the README) before each wrk run, so the
# token (15 minutes) never expires during one.
#
# The wrk CPU % and server CPU % columns are each process's CPU time (user +
# system) over the run, as a share of all the cores for the run's wall time
# (100 % = every core busy). wrk shares the cores with the server it loads:
# when the two add up to about 100 %, the machine, not the server, is the
# limit, and wrk's share is what the figures lose to it. The server's share
# includes its sync worker and the in-process fake TPGateway working off the
# jobs the run queues.
set -euo pipefail

cd "$(dirname "$0")/../.."
duration=${TMS_BENCH_DURATION:-10s}
connections=${TMS_BENCH_CONNECTIONS:-8 32}
threads=${TMS_BENCH_THREADS:-2}
# The enrolment pool: runs x trainees distinct pairs, shared by the POST
# runs (each continues where the previous stopped). A trainee can be
# enrolled in a run once, so a pair used twice answers 409: the non-2xx
# column then says the pool was too small for the machine, raise these.
# 300 x 300 = 90,000 pairs, at least twice what two 10 s runs use on 2
# cores (20,000 to 35,000). Pairs are walked run first (pair g is run
# g mod runs, trainee g div runs) so the runs fill evenly: POST /enrolments
# counts the run's active enrolments, and by the end each course run has
# about (POST requests of both runs) / runs of them (60 to 120 on 2 cores).
pool_runs=${TMS_BENCH_RUNS:-300}
pool_trainees=${TMS_BENCH_TRAINEES:-300}

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
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

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
token=$(login) || { echo "could not sign in; server log:" >&2; tail "$work/server.log" >&2; exit 1; }

# The pool: course runs (capacity 9999, the most a run may have, so that no
# run is ever full) and trainees (NRICs S1000000 upwards, each with its
# check letter, API-NOTES §11), created by 8 client threads over kept-alive
# connections; their ids go to runs.txt and trainees.txt for wrk. 300 + 300
# take about half a second on 2 cores (the time is printed).
cat >"$work/pool.py" <<'PY'
import http.client, json, sys, time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from threading import local
from urllib.parse import urlsplit

base, token, work, n_runs, n_trainees = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
url = urlsplit(base)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
conns = local()

def post(path, body):
    if not hasattr(conns, "c"):
        conns.c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conns.c.request("POST", path, json.dumps(body), headers)
    r = conns.c.getresponse()
    text = r.read()
    if r.status != 201:
        sys.exit(f"POST {path}: {r.status} {text[:300]!r}")
    return r.getheader("Location").rsplit("/", 1)[1]

def run(i):
    # Each run a day later than the previous: TPGateway (and the fake)
    # refuses a second run of a course with the same dates.
    day = lambda n: (date(2025, 1, 1) + timedelta(days=i + n)).isoformat()
    return post("/course-runs", {
        "course_ref": "TGS-2020000697", "title": f"Workplace Safety {i}",
        "registration_opening": day(0), "registration_closing": day(9),
        "start_date": day(14), "end_date": day(15),
        "delivery_mode": "classroom", "capacity": 9999, "course_admin_email": "admin@example.sg",
        "venue": {"floor": "03", "unit": "01", "postal_code": "408533", "room": "R1"},
        "sessions": [{"session_date": day(14), "start_time": "09:00", "end_time": "18:00"}]})

def nric(i):
    # S, 7 digits, the check letter (tms_domain::national_id::check_letter).
    digits = f"{1000000 + i:07d}"
    s = sum(int(d) * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2)))
    return "S" + digits + "ABCDEFGHIZJ"[10 - s % 11]

def trainee(i):
    return post("/trainees", {
        "name": f"Trainee {i}", "national_id": nric(i), "national_id_type": "nric",
        "email": f"trainee{i}@example.sg", "phone": {"country_code": "65", "number": "98765432"},
        "date_of_birth": "1990-03-08", "consent_flags": {"pdpa": True}})

start = time.monotonic()
with ThreadPoolExecutor(8) as pool:
    runs = list(pool.map(run, range(n_runs)))
    trainees = list(pool.map(trainee, range(n_trainees)))
for name, ids in (("runs", runs), ("trainees", trainees)):
    with open(f"{work}/{name}.txt", "w") as f:
        f.write("\n".join(ids) + "\n")
print(f"{n_runs} runs and {n_trainees} trainees in {time.monotonic() - start:.1f} s")
PY
pool_note=$(python3 "$work/pool.py" "$base" "$token" "$work" "$pool_runs" "$pool_trainees")
trainee_id=$(head -n1 "$work/trainees.txt")

# wrk's script: the token; for POST, every request the next pair of the
# pool (thread t of n sends pairs offset + t, offset + t + n, ...), so no
# two requests share a pair; done() prints one line for runner.py, with
# the pair after the last one sent (the next run's offset). Its non-2xx is
# wrk's count of answers with a status of 400 or more.
cat >"$work/bench.lua" <<'LUA'
local method = os.getenv("BENCH_METHOD")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
wrk.method = method
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
local threads = {}
function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end
if method == "POST" then
    wrk.headers["Content-Type"] = "application/json"
    local runs, trainees = {}, {}
    for l in io.lines(os.getenv("BENCH_WORK") .. "/runs.txt") do runs[#runs + 1] = l end
    for l in io.lines(os.getenv("BENCH_WORK") .. "/trainees.txt") do trainees[#trainees + 1] = l end
    local offset = tonumber(os.getenv("BENCH_OFFSET"))
    sent = 0
    function request()
        local g = offset + tid + sent * nthreads
        sent = sent + 1
        -- Past the pool, pairs repeat (and answer 409).
        local r = g % #runs
        local t = math.floor(g / #runs) % #trainees
        local body = '{"course_run_id":"' .. runs[r + 1] .. '","trainee_id":"' .. trainees[t + 1]
            .. '","enrolment_date":"2025-01-05","sponsorship":"individual","fee_amount":"1200.00",'
            .. '"discount_amount":"0.00","fee_collection_status":"pending_payment",'
            .. '"subsidy_info":"SkillsFuture Credit"}'
        return wrk.format(nil, nil, nil, body)
    end
end
function done(summary, latency, requests)
    local offset = tonumber(os.getenv("BENCH_OFFSET"))
    local next_pair = offset
    for _, thread in ipairs(threads) do
        local sent = thread:get("sent")
        if sent and sent > 0 then
            next_pair = math.max(next_pair, offset + thread:get("tid") + (sent - 1) * nthreads + 1)
        end
    end
    local e = summary.errors
    io.write(string.format("RESULT %.0f %.2f %.2f %d %d %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout, next_pair))
end
LUA

# Runs one wrk and measures, over the same interval, wrk's CPU time (its
# rusage once it exits) and the server's (utime + stime in
# /proc/<pid>/stat before and after); prints one row of the table and
# writes the next free pair to the file "next".
cat >"$work/runner.py" <<'PY'
import os, subprocess, sys, time

label, conns, server_pid, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
tick, cores = os.sysconf("SC_CLK_TCK"), os.cpu_count()

def server_cpu():
    with open(f"/proc/{server_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

s0, t0 = server_cpu(), time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
out = p.stdout.read()
_, status, usage = os.wait4(p.pid, 0)
wall, s1 = time.monotonic() - t0, server_cpu()
line = [l for l in out.splitlines() if l.startswith("RESULT ")]
if status != 0 or not line:
    sys.exit(f"wrk failed ({status}):\n{out}")
rps, p50, p99, n, non2xx, sock, next_pair = line[0].split()[1:]
share = lambda cpu: 100 * cpu / (cores * wall)
print(f"{label:<18} {conns:>5} {rps:>8} {p50:>8} {p99:>8} {non2xx:>8} {sock:>8} "
      f"{share(usage.ru_utime + usage.ru_stime):>7.0f}% {share(s1 - s0):>7.0f}%   ({n} requests)")
with open(os.environ["BENCH_WORK"] + "/next", "w") as f:
    f.write(next_pair + "\n")
PY

# The worker handles each created record's sync message after the
# response (a run's publication, an enrolment's, each a call to the fake
# TPGateway): wait for it to catch up, so that no run is measured with the
# previous run's backlog still being worked off (at most 300 s; the wait is
# reported on stderr).
drain() {
    python3 - "$work/tms.sqlite" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
start = time.monotonic()
while True:
    left = db.execute("SELECT COUNT(*) FROM queue_messages WHERE queue = 'main'").fetchone()[0]
    waited = time.monotonic() - start
    if left == 0 or waited > 300:
        break
    time.sleep(0.1)
if left:
    print(f"drain: {left} sync messages still queued after {waited:.0f} s; measuring anyway", file=sys.stderr)
elif waited > 1:
    print(f"drain: the worker took {waited:.0f} s to catch up", file=sys.stderr)
PY
}

# bench METHOD LABEL CONNECTIONS URL: one wrk run, its row added to results.
offset=0
results=()
bench() {
    drain
    token=$(login)
    results+=("$(BENCH_METHOD=$1 BENCH_TOKEN=$token BENCH_THREADS=$threads BENCH_WORK=$work \
        BENCH_OFFSET=$offset python3 "$work/runner.py" "$2" "$3" "$server_pid" \
        wrk -t"$threads" -c"$3" -d"$duration" -s "$work/bench.lua" "$4")")
    offset=$(cat "$work/next")
}
for c in $connections; do
    bench GET "GET /trainees/{id}" "$c" "$base/trainees/$trainee_id"
done
for c in $connections; do
    bench POST "POST /enrolments" "$c" "$base/enrolments"
done

echo "tms-local ($bin), wrk -t$threads -d$duration, $(nproc) cores; pool: $pool_note; $offset of $((pool_runs * pool_trainees)) pairs used"
printf '%-18s %5s %8s %8s %8s %8s %8s %8s %8s\n' route conns 'req/s' 'p50 ms' 'p99 ms' non-2xx 'sock err' 'wrk CPU' 'srv CPU'
printf '%s\n' "${results[@]}"
if [ "$offset" -gt $((pool_runs * pool_trainees)) ]; then
    echo "the pool was too small (pairs repeated: 409s); raise TMS_BENCH_RUNS or TMS_BENCH_TRAINEES" >&2
fi
