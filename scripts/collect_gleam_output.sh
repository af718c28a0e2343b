#!/usr/bin/env bash
# After `gleam build`: copy the Erlang generated from our Gleam modules (not
# the FFI modules gleam copied from erlang_src) to where rebar3 and the test
# build read them, the same places scripts/gleam_build.mjs writes to.
set -euo pipefail
artefacts=$1 src_out=$2 test_out=$3
rm -rf "$src_out" "$test_out"; mkdir -p "$src_out" "$test_out"
for dir_out in "gleam_src:$src_out" "tests:$test_out"; do
  root=${dir_out%%:*} out=${dir_out#*:}
  while IFS= read -r file; do
    module=${file#"$root"/}; module=${module%.gleam}; module=${module//\//@}
    cp "$artefacts/$module.erl" "$out/"
  done < <(find "$root" -name '*.gleam')
done
