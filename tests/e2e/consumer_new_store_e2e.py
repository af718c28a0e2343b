#!/usr/bin/env python3
"""End-to-end: the reference invoice consumer (examples/invoice_consumer)
when the stream server's store is lost and the stream made again, its
sequences from 1 again.

A real nats-server (JetStream, loopback) and a scratch PostgreSQL. A line
and a message that breaks the contract are published, the consumer
applies them and exits when idle; the server then starts with an empty
store, the stream is made again, another line and another broken message
take the same sequences, and the consumer runs again: it must apply the
new line (its recorded position was in the old stream) and keep the new
broken message beside the old one (a reject is the stream's message, not
only its sequence).

Run by scripts/run_tests.sh (make test) with the project's .venv; prints
"N checks passed" or fails with the first check that did not hold.
"""
import asyncio
import json
import os
import subprocess
import sys

import nats

import support
from support import REPO, Nats, Postgres, Scratch, check

CONSUMER = REPO / "examples/invoice_consumer/consumer.py"


def line(customer):
    key = f"{customer}/*/requests/total/2026-10"
    return key, {"amount_minor": "5", "currency": "EUR", "customer": customer, "included": "0", "key": key,
                 "measure": "total", "meter": "requests", "overage": "5", "period": "2026-10", "plan": "std",
                 "resource": "*", "unit": "unit", "unit_price": "1", "used": "5", "version": 1}


def publish(url, messages):
    """Makes the stream (as tally does when it first publishes) and publishes (key, body) in order."""
    async def send():
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.add_stream(name="INVOICES", subjects=["tally.invoices"])
        for key, body in messages:
            headers = {"Nats-Msg-Id": f"{key}/v1", "Tally-Schema": "invoice_line.v1"}
            await js.publish("tally.invoices", json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
                             stream="INVOICES", headers=headers)
        await nc.close()
    asyncio.run(send())


def consume(scratch, nats_url, db_url, n):
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": db_url, "EXIT_WHEN_IDLE": "2"}
    with open(scratch / f"consumer-{n}.log", "w") as log:
        return subprocess.run([sys.executable, str(CONSUMER)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, timeout=120).returncode


def query(db_url, sql):
    import psycopg
    with psycopg.connect(db_url) as db:
        return db.execute(sql).fetchall()


def main():
    with Scratch("tally-consumer-store-e2e-") as run:
        scratch = run.dir
        pg = run.server(Postgres())
        nats_server = run.server(Nats(scratch))
        key_a, a = line("a")
        broken_a = dict(line("broken-a")[1])
        del broken_a["currency"]
        publish(nats_server.url, [(key_a, a), (broken_a["key"], broken_a)])
        check(consume(scratch, nats_server.url, pg.url, 1) == 0, "the consumer exits when idle")
        check(query(pg.url, "SELECT key FROM invoice_lines") == [(key_a,)], "the first stream's line applied")
        check(query(pg.url, "SELECT stream_seq FROM invoice_consumer_position") == [(2,)], "its position is 2")

        # A new store: the stream made again, its sequences from 1 again.
        nats_server.new_store()
        key_b, b = line("b")
        broken_b = dict(line("broken-b")[1])
        del broken_b["meter"]
        publish(nats_server.url, [(key_b, b), (broken_b["key"], broken_b)])
        check(consume(scratch, nats_server.url, pg.url, 2) == 0, "the consumer exits when idle again")
        keys = sorted(k for (k,) in query(pg.url, "SELECT key FROM invoice_lines"))
        check(keys == sorted([key_a, key_b]), f"the new stream's line applied as well ({keys})")
        rejects = [r for (r,) in query(pg.url, "SELECT reason FROM invoice_rejects ORDER BY reason")]
        check(len(rejects) == 2 and "currency" in rejects[0] and "meter" in rejects[1],
              f"both broken messages kept with why, at the same sequence of two streams ({rejects})")
        check(query(pg.url, "SELECT stream_seq FROM invoice_consumer_position") == [(2,)],
              "the position is the new stream's")
    print(f"{support.checks} checks passed")


if __name__ == "__main__":
    main()
