#!/usr/bin/env python3
"""End-to-end: tally's release -> NATS JetStream -> the reference consumer
(examples/invoice_consumer, another OS process) -> PostgreSQL, with faults.

A real nats-server (JetStream, loopback) and a real PostgreSQL (Debian's
binaries, a scratch cluster on loopback, run as an unprivileged user when
this runs as root). The release bills October 2026 of generated usage
(customers whose names need the key's escaping included); the consumer is
SIGKILLed mid-stream and restarted, the release is SIGKILLed mid-publish
and restarted, the period is closed again, then the input is changed (lines
change, vanish, appear) and the period reissued as version 2. In the end the
table's lines must be `tally bill`'s lines for the final input, byte for
byte: no duplicate, no missing key, no stale version; every message in the
stream must validate against contract/*.schema.json (jsonschema).

Run by scripts/run_tests.sh (make test) with the project's .venv; prints
"N checks passed" or fails with the first check that did not hold.
"""
import asyncio
import glob
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import jsonschema
import nats
import nats.js.errors
import psycopg

REPO = pathlib.Path(__file__).resolve().parents[2]
RELEASE = REPO / "_build/default/rel/tally/bin/tally"
CONSUMER = REPO / "examples/invoice_consumer/consumer.py"
PERIOD = "2026-10"
CUSTOMERS = int(os.environ.get("E2E_CUSTOMERS", "1500"))
checks = 0


def check(cond, what, why=None):
    """`why`, when given, is called on failure for the details."""
    global checks
    if not cond:
        raise AssertionError(what + (f": {why()}" if why else ""))
    checks += 1
    print(f"ok {checks}: {what}", flush=True)


def differences(table, lines):
    """What the table has that `lines` has not and the other way round, a few of each."""
    extra, missing = sorted(set(table) - set(lines)), sorted(set(lines) - set(table))
    twice = len(table) - len(set(table))
    return (f"{len(missing)} missing {missing[:3]}, {len(extra)} not billed {extra[:3]}, "
            f"{twice} rows twice")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=120, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


# --- the inputs --------------------------------------------------------------

def events(version):
    """October 2026 usage; version 2 changes values, drops resources and a
    customer, adds a customer."""
    t0 = 1790812800000  # 2026-10-01T00:00:00Z
    names = [f"cust-{i}" for i in range(CUSTOMERS)] + ["a/b", "a", "50% off", "tab\there", "ünïcødé 客户"]
    out = []
    for ci, c in enumerate(names):
        if version == 2 and ci % 97 == 5:
            continue  # the customer has no usage any more: its resource lines are void
        resources = ["c"] if c == "a/b" else ["b/c", "*"] if c == "a" else [f"r{j}" for j in range(3)]
        for ri, r in enumerate(resources):
            if version == 2 and ri == 2 and ci % 7 == 0:
                continue  # a resource without usage: its line is void
            n = 1 + (ci + ri) % 5 + (3 if version == 2 and ci % 11 == 0 else 0)
            for k in range(n):
                out.append({"id": f"{c}-{r}-{k}", "source": "e2e", "type": "usage", "subject": c,
                            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t0 + k * 3600_000) // 1000)),
                            "data": {"resource": r, "meter": "requests", "value": 100 + k}})
                out.append({"id": f"{c}-{r}-{k}-bw", "source": "e2e", "type": "usage", "subject": c,
                            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t0 + k * 3600_000) // 1000)),
                            "data": {"resource": r, "meter": "bandwidth_out_bytes",
                                     "value": 1_000_000 * (ci + 1) + k}})
    if version == 2:
        out.append({"id": "new-1", "source": "e2e", "type": "usage", "subject": "newcomer",
                    "time": "2026-10-15T00:00:00Z",
                    "data": {"resource": "r0", "meter": "requests", "value": 5}})
    return out


PLANS = {
    "plans": {"std": {"currency": "EUR", "lines": [
        {"meter": "requests", "measure": "total", "scope": "resource",
         "pricing": {"model": "package", "package_size": "100", "package_price": "40"}},
        {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "included": "0.001",
         "pricing": {"model": "graduated", "tiers": [{"up_to": "1", "unit_price": "5"}, {"unit_price": "3"}]}}]}},
    "default_plan": "std",
}


def write_inputs(base, version):
    sample = base / "sample"
    (sample / "rgw").mkdir(parents=True, exist_ok=True)
    (sample / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events(version)))
    (sample / "s3_access.log").write_text("")
    (sample / "storage.csv").write_text("")
    (sample / "plans.json").write_text(json.dumps(PLANS))


def tally_bill(base, version):
    target = subprocess.run([str(REPO / "scripts/cargo_target_dir.sh")], capture_output=True, text=True,
                            check=True, cwd=REPO).stdout.strip()
    out = subprocess.run([f"{target}/release/tally", "bill", "--plans", str(base / "sample/plans.json"),
                          "--period", PERIOD, "--version", str(version), str(base / "sample/events.jsonl")],
                         capture_output=True, check=True)
    return out.stdout.decode().splitlines()


# --- the services ------------------------------------------------------------

class Postgres:
    """A scratch cluster on loopback, as `nobody` when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise SystemExit("PostgreSQL is missing: run scripts/setup.sh")
        self.bin = pathlib.Path(bins[-1]).parent
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="tally-pg-", dir="/tmp"))
        self.port = free_port()
        self.user = "nobody" if os.geteuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = self.dir / "data"
        self.run("initdb", "-D", data, "-U", "tally", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.run("pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "-o",
                 f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir}"
                 " -c fsync=off", "start")
        self.url = f"postgresql://tally@127.0.0.1:{self.port}/postgres"

    def run(self, tool, *args):
        cmd = [str(self.bin / tool), *map(str, args)]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=self.dir)

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Nats:
    def __init__(self, scratch):
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                      "-sd", str(scratch / "jetstream")],
                                     stdout=subprocess.DEVNULL, stderr=open(scratch / "nats.log", "w"))
        wait_for(lambda: self.reachable(), "nats-server")

    def reachable(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stream(self):
        """(message count, last sequence) of the INVOICES stream, (0, 0) before it exists."""
        async def info():
            nc = await nats.connect(self.url)
            try:
                s = await nc.jetstream().stream_info("INVOICES")
                return s.state.messages, s.state.last_seq
            except nats.js.errors.NotFoundError:
                return 0, 0
            finally:
                await nc.close()
        return asyncio.run(info())

    def publish(self, headers, payload):
        async def send():
            nc = await nats.connect(self.url)
            await nc.jetstream().publish("tally.invoices", payload, stream="INVOICES", headers=dict(headers))
            await nc.close()
        asyncio.run(send())

    def messages(self):
        """Every message of the stream: (headers, payload bytes)."""
        async def read():
            nc = await nats.connect(self.url)
            js = nc.jetstream()
            last = (await js.stream_info("INVOICES")).state.last_seq
            out = [await js.get_msg("INVOICES", seq) for seq in range(1, last + 1)]
            await nc.close()
            # get_msg parses headers with the email package: a non-ASCII
            # value (a customer's name in the id) comes as a Header object.
            return [({k: str(v) for k, v in (m.headers or {}).items()}, m.data) for m in out]
        return asyncio.run(read())


def start_tally(scratch, base, nats_url, version, node, run):
    env = {**os.environ, "TALLY_BASE_DIR": str(base), "TALLY_DATA_DIR": str(scratch / "data"),
           "TALLY_CLOSE_PERIOD": PERIOD, "TALLY_NATS_URL": nats_url, "TALLY_NATS_STREAM": "INVOICES",
           "TALLY_INVOICE_VERSION": str(version), "TALLY_NODE_NAME": node,
           "TALLY_COOKIE_FILE": str(scratch / "cookie")}
    log = open(scratch / f"tally-{run}.log", "w")
    return subprocess.Popen([str(RELEASE), "foreground"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def start_consumer(scratch, nats_url, db_url, n):
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": db_url, "ACK_WAIT": "2", "BATCH": "200"}
    return subprocess.Popen([sys.executable, str(CONSUMER)], env=env, stdin=subprocess.DEVNULL,
                            stdout=open(scratch / f"consumer-{n}.log", "w"), stderr=subprocess.STDOUT)


def kill_group(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="tally-e2e-"))
    base = scratch / "base"
    pg = nats_server = None
    procs = []
    started = time.monotonic()
    try:
        pg = Postgres()
        nats_server = Nats(scratch)
        node = f"tally_e2e_{os.getpid()}"
        write_inputs(base, 1)
        v1 = tally_bill(base, 1)
        total = len(v1)
        print(f"{total} invoice lines in version 1", flush=True)

        # 1. The consumer runs; the release is killed mid-publish, then the consumer.
        consumer = start_consumer(scratch, nats_server.url, pg.url, 1)
        procs.append(consumer)
        tally = start_tally(scratch, base, nats_server.url, 1, node, 1)
        procs.append(tally)
        published = wait_for(lambda: (lambda n: n if n[0] >= total // 5 else None)(nats_server.stream()),
                             "a fifth of the lines on the stream", every=0.01)
        kill_group(tally)
        after_kill = nats_server.stream()[0]
        check(0 < after_kill < total, f"tally killed mid-publish ({after_kill} of {total} on the stream)")
        tally = start_tally(scratch, base, nats_server.url, 1, node, 2)
        procs.append(tally)
        wait_for(lambda: applied(pg.url) >= total // 2 or tally.poll() is not None, "half the lines applied",
                 every=0.01)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        in_table = len(query(pg.url, "SELECT 1 FROM invoice_lines"))
        check(0 < in_table < total, f"consumer killed mid-stream ({in_table} of {total} rows committed)")
        consumer = start_consumer(scratch, nats_server.url, pg.url, 2)
        procs.append(consumer)
        check(tally.wait(timeout=180) == 0, "the restarted job ends with status 0")

        # 2. The same period closed again: nothing published twice.
        before = nats_server.stream()[0]
        tally = start_tally(scratch, base, nats_server.url, 1, node, 3)
        procs.append(tally)
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
        shutil.rmtree(scratch / "data/shards")
        (scratch / "data/closed.term").unlink()
        tally = start_tally(scratch, base, nats_server.url, 2, node, 4)
        procs.append(tally)
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
        nats_server.publish([("Nats-Msg-Id", "x/*/m/total/2026-10/v9"), ("Tally-Schema", "invoice_line.v2")], b"{}")
        check(consumer.wait(timeout=60) != 0, "an unknown schema version stops the consumer")
        check(applied(pg.url) == nats_server.stream()[1] - 1, "the unknown message is not applied (it waits)")
        print(f"e2e took {time.monotonic() - started:.1f} s for {total} + {len(v2)} lines", flush=True)
    except BaseException:
        # What the other processes said, for the failure's story.
        for log in sorted(scratch.glob("*.log")):
            print(f"--- {log.name} (last lines)", *log.read_text(errors="replace").splitlines()[-15:], sep="\n")
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL) if p.args[0] == str(RELEASE) else p.kill()
                except ProcessLookupError:
                    pass
                p.wait()
        if nats_server:
            nats_server.proc.kill()
            nats_server.proc.wait()
        if pg:
            pg.stop()
        if os.environ.get("E2E_KEEP"):
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"{checks} checks passed")


if __name__ == "__main__":
    main()
