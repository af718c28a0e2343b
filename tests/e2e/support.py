"""What the end-to-end tests share: the generated October 2026 usage and
plans, `tally bill` on them, a real nats-server (JetStream) and a scratch
PostgreSQL on loopback, the release started as its own OS process, and
numbered checks that stop at the first one that does not hold.
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
import tempfile
import time

import nats
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig

REPO = pathlib.Path(__file__).resolve().parents[2]
RELEASE = REPO / "_build/default/rel/tally/bin/tally"
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

def events(version, customers=CUSTOMERS):
    """October 2026 usage of `customers` generated customers and five with
    odd names; version 2 changes values, drops resources and a customer,
    adds a customer."""
    t0 = 1790812800000  # 2026-10-01T00:00:00Z
    names = [f"cust-{i}" for i in range(customers)] + ["a/b", "a", "50% off", "tab\there", "ünïcødé 客户"]
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


def write_inputs(base, version, customers=CUSTOMERS):
    sample = base / "sample"
    (sample / "rgw").mkdir(parents=True, exist_ok=True)
    (sample / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events(version, customers)))
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
        self.scratch = scratch
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                      "-sd", str(scratch / "jetstream")],
                                     stdout=subprocess.DEVNULL, stderr=open(scratch / "nats.log", "w"))
        wait_for(lambda: self.reachable(), "nats-server")

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def new_store(self):
        """A new server's store: stopped, its JetStream store removed (the
        stream and its consumers gone, sequences from 1 again), started
        again, on another port."""
        self.stop()
        shutil.rmtree(self.scratch / "jetstream")
        self.__init__(self.scratch)

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

    def payloads(self):
        """Every message of the stream as (Nats-Msg-Id, payload bytes), read
        in batches by a consumer of its own (get_msg one by one is a request
        a message)."""
        async def read():
            nc = await nats.connect(self.url)
            js = nc.jetstream()
            last = (await js.stream_info("INVOICES")).state.last_seq
            sub = await js.pull_subscribe("tally.invoices", stream="INVOICES",
                                          config=ConsumerConfig(ack_policy=AckPolicy.NONE))
            out = []
            while len(out) < last:
                out += [(m.headers["Nats-Msg-Id"], m.data) for m in await sub.fetch(batch=5000, timeout=10)]
            await sub.unsubscribe()
            await nc.close()
            return out
        return asyncio.run(read())

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


def kill_group(proc):
    """SIGKILLs the process's group; one that ended by itself is left to
    the caller's checks (which then say what point was missed)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_process(proc):
    """Kills what is still running of a process started by a test: the
    release's whole group, any other process itself."""
    if proc.poll() is None:
        if proc.args[0] == str(RELEASE):
            kill_group(proc)
        else:
            proc.kill()
            proc.wait()


class Scratch:
    """One end-to-end run's scratch directory and what runs in it, as a
    context: on a failure the last lines of every log in the directory are
    printed (the other processes' side of the story); at the end every
    process still running is killed, the servers are stopped and the
    directory is removed (kept with E2E_KEEP=1)."""

    def __init__(self, prefix):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        self.procs = []
        self.servers = []

    def started(self, proc):
        """`proc`, killed at the end if it still runs."""
        self.procs.append(proc)
        return proc

    def server(self, server):
        """`server` (Nats, Postgres), stopped at the end."""
        self.servers.append(server)
        return server

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is not None:
            for log in sorted(self.dir.glob("*.log")):
                print(f"--- {log.name} (last lines)", *log.read_text(errors="replace").splitlines()[-15:],
                      sep="\n")
        for proc in self.procs:
            stop_process(proc)
        for server in reversed(self.servers):
            server.stop()
        if os.environ.get("E2E_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def forget_usage(data):
    """The usage read so far removed, as README says before a reissue: the
    shards' state and the closed periods (the outbox and `issued/` stay)."""
    shutil.rmtree(data / "shards")
    (data / "closed.term").unlink()
