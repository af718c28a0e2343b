#!/usr/bin/env python3
"""End-to-end: the release killed in the middle of closing a period, then
the period reissued as version 2 from changed usage.

A real nats-server (JetStream, loopback) and the release (`bin/tally
foreground`, its own OS process). The release closes October 2026 of
5,000 generated customers (E2E_REISSUE_CUSTOMERS; about 20,000 lines, each
of its two shards in several rounds of 2,500 lines) as version 1 and is
SIGKILLed once lines are on the stream and before the close is done: the
keys of its rounds are recorded beside the period's record, not in it.
Then the usage changes (lines vanish, change, appear) and the period is
reissued as version 2. On the stream, each key's last version must then
be `tally bill`'s version 2, line for line: every line of version 1 on the
stream that version 2 has not is void, a void names only a key version 1
billed, no message id comes twice, and closing again publishes nothing.

Run by scripts/run_tests.sh (make test) with the project's .venv; prints
"N checks passed" or fails with the first check that did not hold.
"""
import collections
import json
import os
import shutil
import time

import support
from close_killed_e2e import mid_close
from support import (PERIOD, Nats, Scratch, check, differences, kill_group, start_tally, tally_bill,
                     wait_for, write_inputs)

CUSTOMERS = int(os.environ.get("E2E_REISSUE_CUSTOMERS", "5000"))


def written(message):
    """A message's line as `tally bill` writes it (keys in order, no spaces)."""
    return json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main():
    with Scratch("tally-reissue-e2e-") as run:
        scratch = run.dir
        base, data = scratch / "base", scratch / "data"
        started = time.monotonic()
        nats_server = run.server(Nats(scratch))
        node = f"tally_reissue_e2e_{os.getpid()}"
        write_inputs(base, 1, customers=CUSTOMERS)
        v1 = tally_bill(base, 1)
        print(f"{len(v1)} invoice lines of {CUSTOMERS + 5} customers in version 1", flush=True)

        # 1. Killed once lines are on the stream, the close not done.
        tally = start_tally(scratch, base, nats_server.url, 1, node, 1)
        run.started(tally)
        wait_for(lambda: (mid_close(data) and nats_server.stream()[0] > 0) or tally.poll() is not None,
                 "lines on the stream in the middle of the close", every=0.002)
        kill_group(tally)
        on_stream, closing = nats_server.stream()[0], mid_close(data)
        check(closing and 0 < on_stream < len(v1), "the release killed mid-close with lines on the stream",
              lambda: f"{on_stream} of {len(v1)} lines on the stream, the close {'not ' if closing else ''}"
                      f"done: no such point found (E2E_REISSUE_CUSTOMERS={CUSTOMERS} too few?)")

        # 2. The usage changed, the period reissued as version 2.
        write_inputs(base, 2, customers=CUSTOMERS)
        v2 = tally_bill(base, 2)
        shutil.rmtree(data / "shards")
        tally = start_tally(scratch, base, nats_server.url, 2, node, 2)
        run.started(tally)
        check(tally.wait(timeout=300) == 0, "the reissue (version 2) ends with status 0")

        messages = nats_server.payloads()
        ids = [message_id for message_id, _ in messages]
        check(len(ids) == len(set(ids)), "no message id twice in the stream")
        history = collections.defaultdict(list)
        for _, payload in messages:
            message = json.loads(payload)
            history[message["key"]].append(message)
        last = {key: max(ms, key=lambda m: m["version"]) for key, ms in history.items()}
        lines = sorted(written(m) for m in last.values() if not m.get("void"))
        check(lines == sorted(v2), f"each key's last version is tally bill's {len(v2)} lines of version 2",
              lambda: differences(lines, v2))
        check(all(m["version"] == 2 for m in last.values()), "every key's last message is of version 2")
        keys1 = {json.loads(line)["key"] for line in v1}
        keys2 = {json.loads(line)["key"] for line in v2}
        seen1 = {key for key, ms in history.items() if any(m["version"] == 1 for m in ms)}
        voids = {key for key, m in last.items() if m.get("void")}
        check(seen1 - keys2 <= voids,
              f"the {len(seen1 - keys2)} lines of version 1 on the stream that version 2 has not are void",
              lambda: f"{sorted(seen1 - keys2 - voids)[:3]} not void")
        check(voids <= keys1 - keys2, f"the {len(voids)} voids name lines version 1 billed and version 2 has not",
              lambda: f"{sorted(voids - (keys1 - keys2))[:3]}")

        # 3. Closing again publishes nothing.
        before = nats_server.stream()[0]
        tally = start_tally(scratch, base, nats_server.url, 2, node, 3)
        run.started(tally)
        check(tally.wait(timeout=300) == 0, "closing the period again ends with status 0")
        check(nats_server.stream()[0] == before, "closing again published nothing")
        print(f"reissue e2e took {time.monotonic() - started:.1f} s ({len(v1)} lines, then {len(v2)}"
              f" and {len(voids)} voids)", flush=True)
    print(f"{support.checks} checks passed")


if __name__ == "__main__":
    main()
