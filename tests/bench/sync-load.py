#!/usr/bin/env python3
"""Benchmark (by hand, not part of tests/run): N course-run creates through
the real tms-local (release build, embedded engine, in-process fake
TPGateway), then the time from each create's commit to its run being synced
(the publish job's success), as jobs per second and p50/p99.

    python3 tests/bench/sync-load.py [--runs 1000] [--concurrency 8] [--latency-ms 0]

Prints the figures; asserts nothing about them.
"""
import argparse, datetime, json, os, shutil, socket, subprocess, sys, tempfile, threading, time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency-ms", type=int, default=0)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "tms-local"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "tms-local")
    work = tempfile.mkdtemp(prefix="tms-sync-load-")
    port = free_port()
    env = dict(os.environ, TMS_BIND=f"127.0.0.1:{port}", TMS_SQLITE_PATH=os.path.join(work, "tms.sqlite"),
               TMS_FAKE_TPGATEWAY_LATENCY_MS=str(args.latency_ms), RUST_LOG="warn")
    env.pop("TMS_TPGATEWAY_SECRET_FILE", None)
    env.pop("TMS_ENGINE", None)
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                call(base, "GET", "/course-runs?limit=1")
                break
            except Exception:
                time.sleep(0.1)
        ids, lock = [], threading.Lock()
        start_day = datetime.date(2025, 1, 16)

        def creator(k):
            for i in range(k, args.runs, args.concurrency):
                body = {
                    "course_ref": "TGS-2020000697", "title": f"Run {i}",
                    "registration_opening": "2025-01-01", "registration_closing": "2025-01-10",
                    "start_date": "2025-01-15",
                    "end_date": (start_day + datetime.timedelta(days=i)).isoformat(),
                    "delivery_mode": "classroom", "capacity": 20,
                    "course_admin_email": "admin@example.sg",
                    "venue": {"floor": "03", "unit": "01", "postal_code": "408533", "room": "R1"},
                    "sessions": [{"session_date": "2025-01-15", "start_time": "09:00", "end_time": "18:00"}],
                }
                r = call(base, "POST", "/course-runs", body)
                with lock:
                    ids.append((r["id"], ts(r["created_at"])))

        t0 = time.monotonic()
        threads = [threading.Thread(target=creator, args=(k,)) for k in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created_in = time.monotonic() - t0
        deadline = time.monotonic() + 600
        while True:
            synced, cursor = 0, None
            while True:
                q = "/course-runs?status=synced&limit=100" + (f"&cursor={cursor}" if cursor else "")
                page = call(base, "GET", q)
                synced += len(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            if synced >= args.runs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        all_synced_in = time.monotonic() - t0
        latencies, done_at = [], []
        for run_id, committed in ids:
            jobs = call(base, "GET", f"/sync-jobs?entity_type=course_run&entity_id={run_id}&limit=100")["items"]
            publish = [j for j in jobs if j["job_type"] == "course_run_upsert" and j["status"] == "succeeded"]
            if publish:
                finished = ts(publish[-1]["updated_at"])
                latencies.append((finished - committed).total_seconds())
                done_at.append(finished)
        latencies.sort()
        pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
        first = min(c for _, c in ids)
        span = (max(done_at) - first).total_seconds() if done_at else float("nan")
        print(f"{args.runs} creates, concurrency {args.concurrency}, fake latency {args.latency_ms} ms, embedded engine, release build")
        print(f"  creates: {args.runs / created_in:.0f}/s ({created_in:.1f} s); all synced after {all_synced_in:.1f} s")
        print(f"  synced: {len(latencies)} of {args.runs}; publish jobs {len(latencies) / span:.0f}/s over {span:.1f} s")
        print(f"  commit -> synced: p50 {pct(0.50):.0f} ms, p99 {pct(0.99):.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
