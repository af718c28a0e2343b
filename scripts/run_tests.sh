#!/usr/bin/env bash
# Every test of tally, in order: Rust (cargo test), then the BEAM build, the
# Gleam tests (EUnit over the Gleam test modules, as `gleam test` runs
# them), the Erlang tests, the end-to-end tests of tests/e2e (the invoice
# consumer's; the release killed mid-close; a reissue after such a kill), the interop example (examples/interop_example), and with a
# gleam binary on PATH the example Gleam application (examples/gleam_app).
# Prints the counts of each and exits non-zero when anything failed.  --beam-only skips the Rust tests.
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir=$(mktemp -d)
# The tests' temporary files (data directories, NATS stores, port
# checkpoints) all go under one directory, removed at the end.
export TMPDIR
TMPDIR=$(mktemp -d -t tally-tests-XXXXXX)
trap 'rm -rf "$log_dir" "$TMPDIR"' EXIT
failed_suites=()
declare -A passed failed

# count SUITE LOG: fills passed/failed from cargo's and EUnit's closing lines.
count() {
  local suite=$1 log=$2 p=0 f=0
  if [ "$suite" = rust ]; then
    p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
    f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
  else
    p=$(grep -Eo 'All [0-9]+ tests passed|Passed: [0-9]+|Test passed|[0-9]+ checks passed' "$log" | grep -Eo '[0-9]+|Test passed' | sed 's/Test passed/1/' | awk '{s+=$1} END {print s+0}')
    f=$(grep -Eo 'Failed: [0-9]+' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
  fi
  passed[$suite]=$p failed[$suite]=$f
}

run_suite() {
  local suite=$1; shift
  echo "==> $suite tests"
  if ! "$@" 2>&1 | tee "$log_dir/$suite.log"; then
    failed_suites+=("$suite")
  fi
  count "$suite" "$log_dir/$suite.log"
}

suites=()
if [ "${1:-}" != --beam-only ]; then
  suites+=(rust)
  run_suite rust cargo test --workspace
fi

echo "==> building the BEAM side"
if ! make --no-print-directory compile release; then
  echo "build failed" >&2
  exit 1
fi

EBIN=_build/default/lib/tally/ebin
TEST_EBIN=_build/gleam_test/ebin
erl_modules=$(cd tests/erlang && ls *.erl | sed 's/\.erl$//' | paste -sd, -)

suites+=(gleam erlang)
run_suite gleam erl -noshell -pa "$EBIN" -pa "$TEST_EBIN" -eval 'tally_test:main(), halt(0).'
run_suite erlang erl -noshell -pa "$EBIN" -pa "$TEST_EBIN" -eval \
  "R = eunit:test([$erl_modules], []), erlang:halt(case R of ok -> 0; _ -> 1 end)."

# The invoice system's side of the bus (README "Receiving invoices"): the
# release, nats-server, the reference consumer (Python) and PostgreSQL.
suites+=(contract)
run_suite contract .venv/bin/python tests/e2e/invoice_consumer_e2e.py
# The consumer when the stream server's store is lost and the stream made again.
suites+=(store)
run_suite store .venv/bin/python tests/e2e/consumer_new_store_e2e.py

# The release killed in the middle of closing 20,000 customers' period,
# twice, and started again: the stream holds exactly tally bill's lines.
suites+=(close)
run_suite close .venv/bin/python tests/e2e/close_killed_e2e.py

# The release killed in the middle of closing a period, then the period
# reissued from changed usage: each key's last version is version 2's.
suites+=(reissue)
run_suite reissue .venv/bin/python tests/e2e/close_reissue_killed_e2e.py

# The interop example (examples/interop_example): one Rust function as a NIF
# and as a port, its bindings generated; its Gleam test runs both paths,
# compiled with a gleam binary when there is one, else with the npm compiler.
suites+=(interop)
run_suite interop make --no-print-directory -C examples/interop_example test

# The Gleam application that depends on tally by path (README "Using tally
# from Gleam"): only a real gleam binary builds it.
if command -v gleam >/dev/null 2>&1; then
  suites+=(example)
  run_suite example bash -c 'cd examples/gleam_app && gleam test'
else
  echo "==> example tests (examples/gleam_app) SKIPPED: no gleam binary on PATH"
fi

echo
echo "==> summary"
total_p=0 total_f=0
for s in "${suites[@]}"; do
  printf '  %-7s %4d passed, %d failed\n' "$s" "${passed[$s]}" "${failed[$s]}"
  total_p=$((total_p + passed[$s])) total_f=$((total_f + failed[$s]))
done
if [ "${#failed_suites[@]}" -gt 0 ] && [ "$total_f" -eq 0 ]; then
  total_f=${#failed_suites[@]}  # a suite that crashed before counting still fails the run
fi
echo "$total_p passed, $total_f failed"
[ "${#failed_suites[@]}" -eq 0 ] && [ "$total_f" -eq 0 ]
