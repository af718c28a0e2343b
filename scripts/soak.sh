#!/usr/bin/env bash
# The soak run: the big counts of tally's reliability checks (their modest
# versions are in `make test`), on loopback only, each part bounded by its
# count and by SOAK_MAX_SECONDS. Prints its figures; exits non-zero when a
# check fails (totals not exact, a crash, a key stored twice).
#
#   scripts/soak.sh                       # everything, the counts below
#   SOAK_PARTS=port,big scripts/soak.sh   # some parts only
#
#   PORT_KILLS=100 PORT_EVENTS=300000     kill -9 of the port during an ingest
#   NATS_RESTARTS=20                      nats-server restarts while publishing
#   HOSTILE_ROUNDS=10                     rounds of every bad frame from a fake server
#   BIG_MB=9.4                            one message of this size, received in pieces
#   VM_KILLS=50                           kill -9 of the release during a period close
#   SOAK_MAX_SECONDS=900                  time cap per part
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOAK_NO_BUILD:-}" ]; then
  nice -n 5 make --no-print-directory compile release >/dev/null
fi
# (not named tally-*: code:priv_dir(tally) would take it for the application)
out=$(mktemp -d -t soak-build-XXXXXX)
export TMPDIR
TMPDIR=$(mktemp -d -t tally-soak-XXXXXX)
trap 'rm -rf "$out" "$TMPDIR"' EXIT
erlc -o "$out" scripts/tally_soak.erl
nice -n 5 erl -noshell -pa _build/default/lib/tally/ebin -pa _build/gleam_test/ebin -pa "$out" \
  -eval 'tally_soak:main()'
