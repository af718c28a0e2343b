#!/bin/sh
# bin/tally: the release's start script. It gives the VM this
# installation's own distribution cookie and keeps Erlang distribution and
# epmd on loopback unless the operator opens them, then runs relx's start
# script (bin/{{release_name}}-{{release_version}}) with the same arguments.
#
#   TALLY_COOKIE / RELX_COOKIE  use this cookie instead of releases/COOKIE
#   TALLY_COOKIE_FILE           keep the cookie in this file instead
#   TALLY_NODE_NAME             short node name (default tally)
#   TALLY_DIST_INTERFACE        address distribution listens on, an Erlang
#                               tuple (default {127,0,0,1})
#   ERL_EPMD_ADDRESS            addresses epmd listens on (default 127.0.0.1)
#   CODE_LOADING_MODE           interactive (default) or embedded
#   MALLOC_ARENA_MAX            glibc malloc arenas (default 2)
set -e
SCRIPT=$(readlink -f "$0" 2>/dev/null || echo "$0")
ROOT=$(cd "$(dirname "$SCRIPT")/.." && pwd -P)
# Files the release writes from here on (the vm.args that holds the
# cookie, logs) are for this user only.
umask 077

if [ -z "$RELX_COOKIE" ]; then
    if [ -n "$TALLY_COOKIE" ]; then
        RELX_COOKIE=$TALLY_COOKIE
    else
        COOKIE_FILE=${TALLY_COOKIE_FILE:-$ROOT/releases/COOKIE}
        if [ ! -s "$COOKIE_FILE" ]; then
            # 32 random bytes as 64 hex digits, written whole, then linked into
            # place only if no other start made one meanwhile (ln never replaces).
            TMP="$COOKIE_FILE.$$"
            od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$TMP"
            chmod 600 "$TMP"
            ln "$TMP" "$COOKIE_FILE" 2>/dev/null || true
            rm -f "$TMP"
        fi
        RELX_COOKIE=$(cat "$COOKIE_FILE")
    fi
fi
case "$RELX_COOKIE" in
    *[!A-Za-z0-9_.@-]*|'') echo "tally: the cookie must be letters, digits and _ . @ - only" >&2; exit 64;;
esac
export RELX_COOKIE
export TALLY_NODE_NAME="${TALLY_NODE_NAME:-tally}"
LOOPBACK='{127,0,0,1}'
export TALLY_DIST_INTERFACE="${TALLY_DIST_INTERFACE:-$LOOPBACK}"
export ERL_EPMD_ADDRESS="${ERL_EPMD_ADDRESS:-127.0.0.1}"
# Modules load when first called, not all at boot: embedded mode would load
# every module of ssl, public_key and asn1 (kept for NATS over TLS) into the
# JIT whether TLS is used or not, 75 MB of RSS at rest instead of 38.
export CODE_LOADING_MODE="${CODE_LOADING_MODE:-interactive}"
# glibc's malloc keeps up to eight arenas per core, one per thread that
# allocates at once; the engine allocates on every dirty scheduler thread,
# and each arena keeps what was freed in it. Two arenas: ingest's peak RSS
# at 10k customers 101 MB -> 94 MB, 121 -> 116 MB at 100k, same speed.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
RELX="$ROOT/bin/{{release_name}}-{{release_version}}"
case "$1" in
    foreground|console|console_clean|console_boot|daemon|start)
        exec "$RELX" "$@";;
esac
# Any other command (ping, eval, rpc, stop, ...) writes the vm.args it
# reads into a directory of its own: rewriting releases/VSN/vm.args while a
# VM is starting from it would give that VM a half-written file.
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tally-cmd-XXXXXX")
trap 'rm -rf "$OUT"' EXIT
set +e
RELX_OUT_FILE_PATH="$OUT" "$RELX" "$@"
STATUS=$?
rm -rf "$OUT"
exit $STATUS
