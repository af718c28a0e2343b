# tally: one entry point for building, testing and running.
#   make run    set up, build the release, run the sample job
#   make test   set up, then every test: Rust, Gleam and Erlang
#   make lint   each language's own checks (README "Lint"); fails on any finding
#   make docs   the Gleam API docs and the Rust crates' docs (README "Docs")
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

EBIN      := _build/default/lib/tally/ebin
TEST_EBIN := _build/gleam_test/ebin
RELEASE   := _build/default/rel/tally
GLEAM     := $(shell command -v gleam 2>/dev/null)
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)
export TALLY_GIT_COMMIT := $(GIT_COMMIT)

.PHONY: setup generate native gleam compile test test-rust test-beam release run clean bench-port bench bench-ingest bench-job bench-snapshot bench-close
.PHONY: lint lint-rust lint-gleam lint-erlang docs

setup:
	@scripts/setup.sh

# The bindings written from the operation table (native/core/src/operations.rs):
# tally_nif.erl, tally_port_ops.erl, tally_atoms.erl, tally_values.erl,
# nif.gleam, port.gleam, aggregate.gleam and the NIF's and port's Rust adapters;
# then the interop example's, from its own table (examples/interop_example).
# `cargo test` fails when one of them differs from what the table gives.
generate:
	cargo run -q -p tally_bindgen
	$(MAKE) -C examples/interop_example generate

# The NIF library and the port binary go to priv/, where the application finds them.
# Cargo says where it built them (CARGO_TARGET_DIR and .cargo/config are honoured).
native: setup
	cargo build --release -p tally_nif -p tally_port -p tally_cli
	@mkdir -p priv
	@# Copy then rename: overwriting in place fails on a running port binary
	@# ("text file busy") and corrupts a library a running VM has loaded.
	release_dir="$$(scripts/cargo_target_dir.sh)/release"; \
	cp "$$release_dir/libtally_nif.so" priv/.libtally_nif.so.new && mv -f priv/.libtally_nif.so.new priv/libtally_nif.so; \
	cp "$$release_dir/tally_port" priv/.tally_port.new && mv -f priv/.tally_port.new priv/tally_port

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

# The ingest paths from the BEAM (terms, feed, batches, parallel shards) on a
# bench/gen_data.py file (FILE, made when missing: 100 MB, 100k keys); see bench/tally_ingest_bench.erl.
FILE ?= /tmp/tally-bench-100mb.jsonl
bench-ingest: compile
	@mkdir -p _build/bench
	@test -f $(FILE) || python3 bench/gen_data.py --format jsonl --mb 100 --keys 100000 --out $(FILE)
	erlc -o _build/bench bench/tally_ingest_bench.erl
	FILE=$(FILE) erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_ingest_bench:main()'

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

# Bytes written by snapshot saves over an ingest, per backend (FILE, MB, SHARDS, SAVE_EVERY, BACKENDS; see README).
bench-snapshot: compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/tally_snapshot_bench.erl bench/tally_ingest_bench.erl bench/tally_job_bench.erl
	erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_snapshot_bench:main()'

# A period closed in rounds on the NIF and the pure Gleam engine (CUSTOMERS=5000,20000,80000; see README).
bench-close: compile
	@mkdir -p _build/bench
	erlc -o _build/bench bench/tally_close_bench.erl
	erl -noshell -pa $(EBIN) -pa _build/bench -eval 'tally_close_bench:main()'

# Lint: rustfmt and clippy; gleam format and Gleam's warnings (with a gleam
# binary only); erlc with warnings as errors over erlang_src, the generated
# Gleam output and every Erlang test; Dialyzer over the same, against a PLT
# of the OTP applications tally uses, built once and kept under _build/lint.
LINT_EBIN := _build/lint/ebin
PLT       := _build/lint/otp.plt
PLT_APPS  := erts,kernel,stdlib,crypto,public_key,ssl,eunit

lint: lint-rust lint-gleam lint-erlang
	@echo "lint: all checks passed"

lint-rust:
	@scripts/setup.sh --lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

lint-gleam: gleam
ifneq ($(GLEAM),)
	gleam format --check gleam_src tests $(wildcard examples/*/src examples/*/test)
	gleam build --target erlang --warnings-as-errors
	for app in $(wildcard examples/*/gleam.toml); do (cd $$(dirname $$app) && gleam build --warnings-as-errors); done
else
	@echo "lint: gleam format --check and Gleam warnings SKIPPED: no gleam binary on PATH"
endif

lint-erlang: gleam
	@scripts/setup.sh --lint
	rm -rf $(LINT_EBIN) && mkdir -p $(LINT_EBIN)
	erlc +debug_info +warnings_as_errors -o $(LINT_EBIN) erlang_src/*.erl _gen/gleam/*.erl \
	  _gen/gleam_test/*.erl tests/*.erl tests/erlang/*.erl $(wildcard examples/*/src/*.erl)
	scripts/dialyzer.escript $(PLT) $(PLT_APPS) $(LINT_EBIN) _gen/gleam _gen/gleam_test

# Docs: Gleam's API docs (build/dev/docs/tally, with a gleam binary only) and
# the Rust crates' (target/doc), failing on any rustdoc warning.
docs: setup
ifneq ($(GLEAM),)
	gleam docs build
else
	@echo "docs: Gleam API docs SKIPPED: no gleam binary on PATH (gleam docs build)"
endif
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

release: compile
	rebar3 release

# Bills October 2026 of the bundled sample (config/sys.config) from a fresh data directory.
run: release
	rm -rf _build/run
	TALLY_BASE_DIR="$(CURDIR)" TALLY_CLOSE_PERIOD=2026-10 $(RELEASE)/bin/tally foreground
	@echo "invoice lines: _build/run/invoices.jsonl; rejected lines: _build/run/rejects.jsonl; each customer's total: _build/run/totals/2026-10.jsonl"

clean:
	cargo clean
	rm -rf _build _gen priv/libtally_nif.so priv/tally_port build examples/gleam_app/build
	$(MAKE) -C examples/interop_example clean
