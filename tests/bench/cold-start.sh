#!/usr/bin/env bash
# The cold-start benchmark (issue 9): builds every function, the two floors
# (floor-hello: lambda_runtime alone; floor-sdk: the AWS SDK clients from
# the environment) and tms-bootstrap with the release profile, then runs
# tests/bench/cold-start/cold_start.rs: a fake Lambda Runtime API on
# loopback serves events to each binary, against moto with the table,
# queues and secrets bootstrapped, and it prints init (exec to first poll),
# first and warm invocation (median, min, max of 20 starts), the peak RSS
# over 100 invocations and each binary's size (this machine's
# architecture; infra/sam-build prints the arm64 sizes).
#
# Not part of tests/run: figures, not assertions, and they depend on the
# machine. Run it by hand:
#
#   tests/bench/cold-start.sh
#   TMS_BENCH_STARTS=5 TMS_BENCH_ONLY=course-runs,auth tests/bench/cold-start.sh
#
# Settings (environment): TMS_BENCH_STARTS (20), TMS_BENCH_RSS_EVENTS (100),
# TMS_BENCH_ONLY (comma-separated binaries; the floors are always measured),
# AWS_ENDPOINT_URL (a running local AWS-compatible server; without it the
# benchmark starts .venv/bin/moto_server, which `tests/run` installs).
set -euo pipefail

cd "$(dirname "$0")/../.."

functions=()
for dir in functions/*/; do
    name=$(basename "$dir")
    [ "$name" = local ] && continue
    functions+=("-p" "$name")
done

cargo build --release "${functions[@]}" -p floor-hello -p floor-sdk -p tms-infra -p cold-start-bench
target=${CARGO_TARGET_DIR:-target}
TMS_BENCH_BIN_DIR=${TMS_BENCH_BIN_DIR:-$target/release} "$target/release/cold-start"
