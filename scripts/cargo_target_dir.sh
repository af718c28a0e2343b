#!/usr/bin/env bash
# Prints the directory cargo builds into, as cargo itself reports it: the
# workspace's target/ by default, or whatever CARGO_TARGET_DIR or a
# .cargo/config.toml `build.target-dir` says. Release artifacts are in its
# release/ subdirectory. Used by the Makefile and the tests, never a guess.
set -euo pipefail
cd "$(dirname "$0")/.."
meta=$(cargo metadata --format-version 1 --no-deps)
# The one field needed, without a JSON tool: "target_directory":"<path>"
# (JSON escapes a path's backslashes and quotes; undo those two).
dir=$(printf '%s' "$meta" | grep -o '"target_directory":"\([^"\\]\|\\.\)*"' | head -n1 |
  sed -e 's/^"target_directory":"//' -e 's/"$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g')
if [ -z "$dir" ]; then
  echo "cargo_target_dir: cargo metadata did not name a target directory" >&2
  exit 1
fi
printf '%s\n' "$dir"
