#!/usr/bin/env bash
# Runs every parser fuzz target (cargo-fuzz, nightly toolchain) for SECONDS
# each (default 120), seeded with the test fixtures. A crash input is left
# in native/core/fuzz/artifacts/<target>/: copy it to
# native/core/tests/fuzz_regressions/<target>-crash-<hash> so `cargo test`
# replays it for ever.
set -euo pipefail
cd "$(dirname "$0")/../native/core/fuzz"
seconds=${1:-120}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
declare -A seed=([json_lines]=events.jsonl [s3_access_log]=s3_access.log [rgw_usage]=rgw_usage.json [storage_csv]=storage.csv)
for target in json_lines s3_access_log rgw_usage storage_csv; do
  mkdir -p "corpus/$target"
  cp "../tests/fixtures/${seed[$target]}" "corpus/$target/"
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096
done
