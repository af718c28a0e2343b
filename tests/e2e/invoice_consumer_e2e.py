#!/usr/bin/env python3
"""End-to-end: tally's release -> NATS JetStream -> the reference consumer
(examples/invoice_consumer, another OS process) -> PostgreSQL, with faults.

A real nats-server (JetStream, loopback) and a real PostgreSQL (Debian's
binaries, a scratch cluster on loopback, run as an unprivileged user when
this runs as root). The release bills October 2026 of generated usage
(customers whose names need the key's escaping included); the consumer is
SIGKILLed mid-stream and restarted, the release is SIGKILLed mid-publish
and restarted, the period is closed again, then the input is changed (lines
change, vanish, appear) and the period reissued as version 2, then as
version 3 to a new stream server's store (the stream's sequences from 1
again). In the end the
table's lines must be `tally bill`'s lines for the final input, byte for
byte: no duplicate, no missing key, no stale version; every message in the
stream must validate against contract/*.schema.json (jsonschema).

Run by scripts/run_tests.sh (make test) with the project's .venv; prints
"N checks passed" or fails with the first check that did not hold.
"""
import json
import os
import signal
import subprocess
import sys
import time

import jsonschema
import psycopg

import support
from support import (PERIOD, REPO, Nats, Postgres, Scratch, check, differences, forget_usage, kill_group,
                     start_tally, tally_bill, wait_for, write_inputs)

CONSUMER = REPO / "examples/invoice_consumer/consumer.py"


def start_consumer(scratch, nats_url, db_url, n):
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": db_url, "ACK_WAIT": "2", "BATCH": "200"}
    return subprocess.Popen([sys.executable, str(CONSUMER)], env=env, stdin=subprocess.DEVNULL,
                            stdout=open(scratch / f"consumer-{n}.log", "w"), stderr=subprocess.STDOUT)


# --- the database --------------------------------------------------------------

def query(db_url, sql):
    with psycopg.connect(db_url) as db:
        try:
            return db.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def applied(db_url):
    rows = query(db_url, "SELECT stream_seq FROM invoice_consumer_position")
    return rows[0][0] if rows else 0


def main():
    with Scratch("tally-e2e-") as run:
        scratch = run.dir
        base = scratch / "base"
        started = time.monotonic()
        pg = run.server(Postgres())
        nats_server = run.server(Nats(scratch))
        node = f"tally_e2e_{os.getpid()}"
        write_inputs(base, 1)
        v1 = tally_bill(base, 1)
        total = len(v1)
        print(f"{total} invoice lines in version 1", flush=True)

        # 1. The consumer runs; the release is killed mid-publish, then the consumer.
        consumer = start_consumer(scratch, nats_server.url, pg.url, 1)
        run.started(consumer)
        tally = start_tally(scratch, base, nats_server.url, 1, node, 1)
        run.started(tally)
        published = wait_for(lambda: (lambda n: n if n[0] >= total // 5 else None)(nats_server.stream()),
                             "a fifth of the lines on the stream", every=0.01)
        kill_group(tally)
        after_kill = nats_server.stream()[0]
        check(0 < after_kill < total, f"tally killed mid-publish ({after_kill} of {total} on the stream)")
        tally = start_tally(scratch, base, nats_server.url, 1, node, 2)
        run.started(tally)
        wait_for(lambda: applied(pg.url) >= total // 2 or tally.poll() is not None, "half the lines applied",
                 every=0.01)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        in_table = len(query(pg.url, "SELECT 1 FROM invoice_lines"))
        check(0 < in_table < total, f"consumer killed mid-stream ({in_table} of {total} rows committed)")
        consumer = start_consumer(scratch, nats_server.url, pg.url, 2)
        run.started(consumer)
        check(tally.wait(timeout=180) == 0, "the restarted job ends with status 0")

        # 2. The same period closed again: nothing published twice.
        before = nats_server.stream()[0]
        tally = start_tally(scratch, base, nats_server.url, 1, node, 3)
        run.started(tally)
        check(tally.wait(timeout=180) == 0, "closing the period again ends with status 0")
        check(nats_server.stream()[0] == before, "closing again published nothing")

        def caught_up():
            return applied(pg.url) == nats_server.stream()[1]

        wait_for(caught_up, "the consumer to catch up")
        table = sorted(r[0] for r in query(pg.url, "SELECT payload FROM invoice_lines WHERE NOT void"))
        check(table == sorted(v1), f"the table holds exactly tally bill's {total} lines of version 1",
              lambda: differences(table, v1))

        # 3. A reissue: changed input, version 2, the usage state read again.
        write_inputs(base, 2)
        v2 = tally_bill(base, 2)
        forget_usage(scratch / "data")
        tally = start_tally(scratch, base, nats_server.url, 2, node, 4)
        run.started(tally)
        check(tally.wait(timeout=180) == 0, "the reissue (version 2) ends with status 0")
        wait_for(caught_up, "the consumer to catch up with version 2")
        rows = query(pg.url, "SELECT key, version, void, payload FROM invoice_lines")
        table = sorted(r[3] for r in rows if not r[2])
        check(table == sorted(v2), f"the table holds exactly tally bill's {len(v2)} lines of version 2",
              lambda: differences(table, v2))
        check(all(r[1] == 2 for r in rows), "no row of a stale version")
        keys1 = {json.loads(line)["key"] for line in v1}
        keys2 = {json.loads(line)["key"] for line in v2}
        voided = {r[0] for r in rows if r[2]}
        check(voided == keys1 - keys2 and voided, f"the {len(voided)} lines gone in version 2 are void")
        check(len(rows) == len(keys1 | keys2), "one row per key")
        check(query(pg.url, "SELECT count(*) FROM invoice_rejects") == [(0,)], "no message refused")

        # 4. The stream against the contract, with jsonschema.
        contract = REPO / "contract"
        body = jsonschema.Draft202012Validator(json.loads((contract / "invoice_line.v1.schema.json").read_text()))
        head = jsonschema.Draft202012Validator(json.loads((contract / "invoice_headers.v1.schema.json").read_text()))
        messages = nats_server.messages()
        errors = [e.message for h, d in messages
                  for e in [*head.iter_errors(dict(h)), *body.iter_errors(json.loads(d))]]
        check(not errors, f"all {len(messages)} messages valid against the schema ({errors[:3]})")
        ids = [h["Nats-Msg-Id"] for h, _ in messages]
        check(len(ids) == len(set(ids)), "no message id twice in the stream")
        check(sum(1 for i in ids if i.endswith("/v2")) == len(v2) + len(voided),
              "version 2 published every line and every void once")

        # 5. What breaks the contract: kept with its reason, the table untouched;
        #    an unknown schema version stops the consumer with nothing acknowledged.
        bad = json.loads(v2[0])
        del bad["currency"]
        nats_server.publish([("Nats-Msg-Id", f"{bad['key']}/v3"), ("Tally-Schema", "invoice_line.v1")],
                            json.dumps(bad).encode())
        wait_for(caught_up, "the consumer to take the broken message")
        rejects = query(pg.url, "SELECT reason FROM invoice_rejects")
        check(len(rejects) == 1 and "currency" in rejects[0][0], f"a broken message is kept with why ({rejects})")
        check(sorted(r[0] for r in query(pg.url, "SELECT payload FROM invoice_lines WHERE NOT void")) == sorted(v2),
              "a broken message changes no line")
        # A line the contract allows that PostgreSQL text cannot hold (tally
        # bills a customer named with a NUL byte): refused with why, not a
        # consumer failing on that batch again and again.
        nul = json.loads(v2[0])
        nul["customer"] = "nul\x00here"
        nul["key"] = "nul%00here/" + nul["key"].split("/", 1)[1]
        nats_server.publish([("Nats-Msg-Id", f"{nul['key']}/v{nul['version']}"),
                             ("Tally-Schema", "invoice_line.v1")],
                            json.dumps(nul, sort_keys=True, separators=(",", ":")).encode())
        wait_for(caught_up, "the consumer to take the line PostgreSQL cannot hold", timeout=30)
        rejects = query(pg.url, "SELECT reason FROM invoice_rejects ORDER BY stream_seq")
        check(len(rejects) == 2 and "U+0000" in rejects[1][0],
              f"a line PostgreSQL cannot hold is kept with why ({rejects})")
        nats_server.publish([("Nats-Msg-Id", "x/*/m/total/2026-10/v9"), ("Tally-Schema", "invoice_line.v2")], b"{}")
        check(consumer.wait(timeout=60) != 0, "an unknown schema version stops the consumer")
        check(applied(pg.url) == nats_server.stream()[1] - 1, "the unknown message is not applied (it waits)")

        # 6. A new stream server's store (the stream made again, its sequences
        #    from 1 again) and a reissue: the consumer, its durable gone with
        #    the store, must not resume after its position in the old stream.
        nats_server.new_store()
        position = applied(pg.url)
        consumer = start_consumer(scratch, nats_server.url, pg.url, 3)
        run.started(consumer)
        v3 = tally_bill(base, 3)
        forget_usage(scratch / "data")
        tally = start_tally(scratch, base, nats_server.url, 3, node, 5)
        run.started(tally)
        check(tally.wait(timeout=180) == 0, "the reissue (version 3) to a new store ends with status 0")
        last = nats_server.stream()[1]
        check(0 < last < position, f"the new stream's {last} messages are below the old position {position}")
        wait_for(caught_up, "the consumer to catch up with the new stream", timeout=60)
        table = sorted(r[0] for r in query(pg.url, "SELECT payload FROM invoice_lines WHERE version = 3 AND NOT void"))
        check(table == sorted(v3), f"the table holds exactly tally bill's {len(v3)} lines of version 3",
              lambda: differences(table, v3))
        print(f"e2e took {time.monotonic() - started:.1f} s for {total} + {len(v2)} + {len(v3)} lines",
              flush=True)
    print(f"{support.checks} checks passed")


if __name__ == "__main__":
    main()
