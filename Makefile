# tally: one entry point for building, testing and running.
#   make run    set up, build the release, run the sample job
#   make test   set up, then every test: Rust, Gleam and Erlang
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

EBIN      := _build/default/lib/tally/ebin
TEST_EBIN := _build/gleam_test/ebin
RELEASE   := _build/default/rel/tally
GLEAM     := $(shell command -v gleam 2>/dev/null)
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
export TALLY_GIT_COMMIT := $(GIT_COMMIT)

.PHONY: setup native gleam compile test test-rust test-beam release run clean bench-port bench bench-job

setup:
	@scripts/setup.sh

# The NIF library and the port binary go to priv/, where the application finds them.
native: setup
	cargo build --release -p tally_nif -p tally_port -p tally_cli
	@mkdir -p priv
	@# Copy then rename: overwriting in place fails on a running port binary
	@# ("text file busy") and corrupts a library a running VM has loaded.
	cp target/release/libtally_nif.so priv/.libtally_nif.so.new && mv -f priv/.libtally_nif.so.new priv/libtally_nif.so
	cp target/release/tally_port priv/.tally_port.new && mv -f priv/.tally_port.new priv/tally_port

# Gleam to Erlang: with a gleam binary when there is one, else the npm compiler.
gleam: setup
ifneq ($(GLEAM),)
	gleam build --target erlang
	scripts/collect_gleam_output.sh build/dev/erlang/tally/_gleam_artefacts _gen/gleam _gen/gleam_test
else
	node scripts/gleam_build.mjs --src gleam_src --test tests --out _gen/gleam --test-out _gen/gleam_test
endif

compile: native gleam
	rebar3 compile
	@mkdir -p $(TEST_EBIN)
	erlc -o $(TEST_EBIN) _gen/gleam_test/*.erl tests/*.erl tests/erlang/*.erl

test: setup
	scripts/run_tests.sh

test-rust: setup
	cargo test --workspace

test-beam: compile
	scripts/run_tests.sh --beam-only

# Port against NIF, side by side (MB=100 by default); see README.
bench-port: compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/*.erl
	erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_port_bench:main()'

# Every backend and jiffy, at three sizes and three key counts (SIZES, KEYS, FORMATS; see README).
bench: compile
	@scripts/setup.sh --bench
	@mkdir -p _build/bench
	erlc -o _build/bench bench/*.erl
	erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_bench:main()'

# The release's whole job (ingest, close, publish) beside tally aggregate and tally bill (SIZES=MB:CUSTOMERS,...; see README).
bench-job: compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/tally_job_bench.erl
	erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_job_bench:main()'

release: compile
	rebar3 release

# Bills October 2026 of the bundled sample (config/sys.config) from a fresh data directory.
run: release
	rm -rf _build/run
	TALLY_BASE_DIR="$(CURDIR)" TALLY_CLOSE_PERIOD=2026-10 $(RELEASE)/bin/tally foreground
	@echo "invoice lines: _build/run/invoices.jsonl; rejected lines: _build/run/rejects.jsonl"

clean:
	rm -rf _build _gen target priv/libtally_nif.so priv/tally_port
