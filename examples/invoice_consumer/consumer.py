#!/usr/bin/env python3
"""Reference consumer of tally's invoice lines: NATS JetStream -> PostgreSQL.

A durable JetStream pull consumer. Each message is checked against the
published contract (contract/invoice_line.v1.schema.json and the headers
schema), then upserted into `invoice_lines` by its key, keeping the highest
version, in one transaction per fetched batch; the messages are
acknowledged only after that transaction commits. The consumer's position
(`invoice_consumer_position`) is the server's acknowledgement floor: every
message up to it is acknowledged, so applied. A batch's own highest
sequence would not do: a batch fetched by a consumer that was killed comes
again only after ACK_WAIT, behind later batches that a restarted consumer
has applied meanwhile. The position names its stream (by its creation
time): a consumer made again in a stream made again (a new server's
store, whose sequences start again from 1) starts from its first message.

Delivery is at least once (a crash between commit and ack redelivers the
message); the upsert by key and version makes a redelivery, an older
version or a closing-again change nothing: the table holds, per key, the
line of the highest version, or a void when that version dropped the line.

    DATABASE_URL=postgresql://localhost/invoices NATS_URL=nats://127.0.0.1:4222 \\
        python examples/invoice_consumer/consumer.py

Options (environment): NATS_URL, STREAM (INVOICES), SUBJECT (tally.invoices),
DURABLE (invoice-consumer), DATABASE_URL, BATCH (256), ACK_WAIT (30 seconds before
an unacknowledged message is delivered again), EXIT_WHEN_IDLE
(seconds without a message after which to exit 0; unset: run forever).
"""
import asyncio
import json
import logging
import os
import pathlib
import sys

import jsonschema
import nats
import nats.errors
import nats.js.errors
import psycopg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

log = logging.getLogger("invoice_consumer")
CONTRACT = pathlib.Path(__file__).resolve().parents[2] / "contract"
KNOWN_SCHEMA = "invoice_line.v1"  # the Tally-Schema header this consumer understands

DDL = """
CREATE TABLE IF NOT EXISTS invoice_lines (
    key          text PRIMARY KEY,       -- the line's identity across versions
    version      bigint  NOT NULL,       -- the highest version seen for the key
    void         boolean NOT NULL,       -- that version dropped the line
    customer     text NOT NULL,
    resource     text NOT NULL,
    meter        text NOT NULL,
    measure      text NOT NULL,
    period       text NOT NULL,
    currency     text,                   -- NULL for a void
    amount_minor numeric(39, 0),         -- exact: up to 2^128
    payload      text NOT NULL,          -- the message's bytes, as published
    stream_seq   bigint NOT NULL         -- where it came from
);
CREATE TABLE IF NOT EXISTS invoice_consumer_position (
    durable    text PRIMARY KEY,
    stream_seq bigint NOT NULL,          -- every message up to here is applied (the ack floor)
    stream     text                      -- the stream it is in (the stream's creation time)
);
ALTER TABLE invoice_consumer_position ADD COLUMN IF NOT EXISTS stream text;
CREATE TABLE IF NOT EXISTS invoice_rejects (  -- messages that break the contract, kept
    stream_seq bigint NOT NULL,
    stream     text NOT NULL DEFAULT '',  -- the stream it is in: a stream made again reuses sequences
    reason     text NOT NULL,
    headers    text NOT NULL,
    payload    bytea NOT NULL,
    PRIMARY KEY (stream, stream_seq)
);
ALTER TABLE invoice_rejects ADD COLUMN IF NOT EXISTS stream text NOT NULL DEFAULT '';
"""

# Insert, or replace only a lower version: a redelivery (same version) and
# a late older version leave the row as it is.
UPSERT = """
INSERT INTO invoice_lines AS l (key, version, void, customer, resource, meter, measure, period,
                                currency, amount_minor, payload, stream_seq)
VALUES (%(key)s, %(version)s, %(void)s, %(customer)s, %(resource)s, %(meter)s, %(measure)s, %(period)s,
        %(currency)s, %(amount_minor)s, %(payload)s, %(stream_seq)s)
ON CONFLICT (key) DO UPDATE SET
    version = EXCLUDED.version, void = EXCLUDED.void, customer = EXCLUDED.customer,
    resource = EXCLUDED.resource, meter = EXCLUDED.meter, measure = EXCLUDED.measure,
    period = EXCLUDED.period, currency = EXCLUDED.currency, amount_minor = EXCLUDED.amount_minor,
    payload = EXCLUDED.payload, stream_seq = EXCLUDED.stream_seq
WHERE l.version < EXCLUDED.version
"""

# A floor in another stream (made again, a new server's store) replaces the
# position: its sequences start again from 1.
POSITION = """
INSERT INTO invoice_consumer_position AS p (durable, stream_seq, stream) VALUES (%s, %s, %s)
ON CONFLICT (durable) DO UPDATE
SET stream_seq = CASE WHEN p.stream IS DISTINCT FROM EXCLUDED.stream THEN EXCLUDED.stream_seq
                      ELSE GREATEST(p.stream_seq, EXCLUDED.stream_seq) END,
    stream = EXCLUDED.stream
"""


def validators():
    def load(name):
        schema = json.loads((CONTRACT / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(schema)

    return load("invoice_line.v1.schema.json"), load("invoice_headers.v1.schema.json")


class UnknownSchema(Exception):
    """A message of a schema this consumer does not know: stop, ack nothing."""


def check(msg, body_schema, header_schema):
    """The message as a row, or raises ValueError saying what breaks the contract."""
    headers = dict(msg.headers or {})
    if headers.get("Tally-Schema") != KNOWN_SCHEMA:
        raise UnknownSchema(f"Tally-Schema {headers.get('Tally-Schema')!r}, this consumer knows {KNOWN_SCHEMA}")
    try:
        body = json.loads(msg.data)
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    for validator, instance in ((header_schema, headers), (body_schema, body)):
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None and error.context:  # neither a line nor a void: why not the kind it looks like
            branch = 1 if isinstance(instance, dict) and "void" in instance else 0
            error = jsonschema.exceptions.best_match(
                e for e in error.context if e.relative_schema_path[0] == branch) or error
        if error is not None:
            raise ValueError(f"{'/'.join(map(str, error.absolute_path)) or 'message'}: {error.message}")
    if headers["Nats-Msg-Id"] != f"{body['key']}/v{body['version']}":
        raise ValueError(f"Nats-Msg-Id {headers['Nats-Msg-Id']!r} is not the key and version")
    for name in ("key", "customer", "resource", "meter", "measure", "period", "currency"):
        text = body.get(name)
        # JSON strings the contract allows but PostgreSQL text cannot hold:
        # refused here, or the batch's transaction would fail at every try.
        if isinstance(text, str) and "\x00" in text:
            raise ValueError(f"{name}: U+0000, which PostgreSQL text cannot hold")
        if isinstance(text, str) and not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise ValueError(f"{name}: a lone surrogate, which PostgreSQL text cannot hold") from None
    void = body.get("void", False)
    return {
        "key": body["key"], "version": body["version"], "void": void,
        "customer": body["customer"], "resource": body["resource"], "meter": body["meter"],
        "measure": body["measure"], "period": body["period"],
        "currency": None if void else body["currency"],
        "amount_minor": None if void else int(body["amount_minor"]),
        "payload": msg.data.decode(), "stream_seq": msg.metadata.sequence.stream,
    }


async def subscribe(js, env, position, recorded_stream):
    """The durable pull consumer, made when missing, and the stream's
    identity (its creation time). A consumer made again (deleted) resumes
    after the recorded position, in the stream it was recorded in; in
    another stream (made again, a new server's store: its sequences start
    again from 1) it starts from the stream's first message."""
    while True:
        try:
            stream = (await js.stream_info(env["STREAM"])).created.isoformat()
            break
        except nats.js.errors.NotFoundError:  # tally makes the stream when it first publishes
            log.info("stream %s not there yet", env["STREAM"])
            await asyncio.sleep(1)
    config = ConsumerConfig(durable_name=env["DURABLE"], ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=float(env["ACK_WAIT"]), max_ack_pending=10000)
    if position and recorded_stream not in (None, stream):
        log.warning("position %d was in another stream %s (made %s): a consumer made now starts at"
                    " its first message", position, env["STREAM"], recorded_stream)
    elif position:  # the consumer was lost (deleted): resume after what is applied
        config.deliver_policy, config.opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, position + 1
    sub = await js.pull_subscribe(env["SUBJECT"], durable=env["DURABLE"], stream=env["STREAM"], config=config)
    return sub, stream


async def record_position(db, js, env, stream, recorded):
    """Records the server's acknowledgement floor as the position, unless
    it is `recorded` already (an idle consumer writes nothing), and returns
    it: every message up to it is acknowledged, and a message is
    acknowledged only once applied. It may lag behind acks still in flight
    (a later call catches up); it never passes a message that is not
    applied."""
    info = await js.consumer_info(env["STREAM"], env["DURABLE"])
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    if floor and floor != recorded:
        async with db.transaction():
            await db.execute(POSITION, (env["DURABLE"], floor, stream))
    return floor


async def run(env):
    body_schema, header_schema = validators()
    async with await psycopg.AsyncConnection.connect(env["DATABASE_URL"]) as db:
        await db.execute(DDL)
        cur = await db.execute("SELECT stream_seq, stream FROM invoice_consumer_position WHERE durable = %s",
                               (env["DURABLE"],))
        row = await cur.fetchone()
        await db.commit()
        nc = await nats.connect(env["NATS_URL"], max_reconnect_attempts=-1)
        js = nc.jetstream()
        sub, stream = await subscribe(js, env, *(row or (0, None)))
        recorded = None  # the floor this run recorded last
        idle = 0.0
        while True:
            try:
                msgs = await sub.fetch(batch=int(env["BATCH"]), timeout=1)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):  # nothing new within a second
                msgs = []
            if not msgs:  # a fetch can also end with no message (a server-side timeout status)
                # The floor may have moved after the last batch's position was read.
                recorded = await record_position(db, js, env, stream, recorded)
                idle += 1
                if env.get("EXIT_WHEN_IDLE") and idle >= float(env["EXIT_WHEN_IDLE"]):
                    break
                continue
            idle = 0.0
            rows, rejects = [], []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                try:
                    rows.append(check(msg, body_schema, header_schema))
                except ValueError as e:
                    log.error("message %d refused: %s", seq, e)
                    rejects.append((seq, stream, str(e), json.dumps(dict(msg.headers or {})), msg.data))
            # One transaction per fetched batch: its rows and its rejects
            # commit together; only then are the messages acknowledged.
            async with db.transaction():
                async with db.cursor() as cur:
                    await cur.executemany(UPSERT, rows)
                    await cur.executemany(
                        "INSERT INTO invoice_rejects (stream_seq, stream, reason, headers, payload)"
                        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rejects)
            for msg in msgs:
                await msg.ack()
            await nc.flush()
            recorded = await record_position(db, js, env, stream, recorded)
            log.info("applied %d messages (%d refused) up to stream sequence %d",
                     len(msgs), len(rejects), max(m.metadata.sequence.stream for m in msgs))
        # Unsubscribe first: draining a pull subscription that is still open
        # waits out the drain timeout.
        await sub.unsubscribe()
        await nc.drain()


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    env = {"NATS_URL": "nats://127.0.0.1:4222", "STREAM": "INVOICES", "SUBJECT": "tally.invoices",
           "DURABLE": "invoice-consumer", "BATCH": "256", "ACK_WAIT": "30", **os.environ}
    if "DATABASE_URL" not in env:
        sys.exit("DATABASE_URL is required (e.g. postgresql://user@127.0.0.1/invoices)")
    try:
        asyncio.run(run(env))
    except UnknownSchema as e:
        # Nothing acknowledged: the messages wait in the stream for a consumer that knows the schema.
        sys.exit(f"stopping: {e}")


if __name__ == "__main__":
    main()
