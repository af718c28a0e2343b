#!/usr/bin/env python3
"""End-to-end: the release killed in the middle of closing a period of
tens of thousands of customers, and started again.

A real nats-server (JetStream, loopback) and the release (`bin/tally
foreground`, its own OS process). The release bills October 2026 of
generated usage: 20,000 customers by default (E2E_CLOSE_CUSTOMERS), about
80,000 invoice lines, so each of its two shards closes in many rounds of
2,500 lines. It is SIGKILLed once the first round's keys are recorded
(`data/issued/2026-10.tmp`) and before the close is done, started again
and SIGKILLed once the first lines are on the stream (usually while the
close still runs), started again, and must then end by itself with
status 0, having put on the stream
exactly `tally bill`'s lines for the same files, each once, and no void;
the customers' totals file must agree with those lines; closing the period
again publishes nothing.

Run by scripts/run_tests.sh (make test) with the project's .venv; prints
"N checks passed" or fails with the first check that did not hold.
"""
import collections
import json
import os
import time

import support
from support import (PERIOD, Nats, Scratch, check, differences, kill_group, start_tally, tally_bill,
                     wait_for, write_inputs)

CUSTOMERS = int(os.environ.get("E2E_CLOSE_CUSTOMERS", "20000"))


def mid_close(data):
    """True once the close has recorded a round's keys and is not done."""
    unfinished = data / "issued" / f"{PERIOD}.tmp"
    try:
        return unfinished.stat().st_size > 0 and not (data / "closed.term").exists()
    except FileNotFoundError:
        return False


def totals_from(lines):
    """Each customer's (amount_minor, line count) as tally bill's lines give them."""
    totals = collections.defaultdict(lambda: [0, 0])
    for line in lines:
        parsed = json.loads(line)
        totals[parsed["customer"]][0] += int(parsed["amount_minor"])
        totals[parsed["customer"]][1] += 1
    return {customer: tuple(t) for customer, t in totals.items()}


def main():
    with Scratch("tally-close-e2e-") as run:
        scratch = run.dir
        base, data = scratch / "base", scratch / "data"
        started = time.monotonic()
        nats_server = run.server(Nats(scratch))
        node = f"tally_close_e2e_{os.getpid()}"
        write_inputs(base, 1, customers=CUSTOMERS)
        billed = tally_bill(base, 1)
        print(f"{len(billed)} invoice lines of {CUSTOMERS + 5} customers", flush=True)

        # 1. Killed between the close's rounds.
        tally = start_tally(scratch, base, nats_server.url, 1, node, 1)
        run.started(tally)
        wait_for(lambda: mid_close(data) or tally.poll() is not None, "the close's first round", every=0.002)
        kill_group(tally)
        check(mid_close(data), "the release killed in the middle of the close (a round recorded, not closed)",
              lambda: f"no such point found (E2E_CLOSE_CUSTOMERS={CUSTOMERS} too few?)")
        on_stream = nats_server.stream()[0]
        check(on_stream < len(billed), f"killed before every line was published ({on_stream} of {len(billed)})")

        # 2. Started again, killed once lines are on the stream.
        tally = start_tally(scratch, base, nats_server.url, 1, node, 2)
        run.started(tally)
        wait_for(lambda: nats_server.stream()[0] > 0 or tally.poll() is not None, "lines on the stream",
                 every=0.002)
        closing = mid_close(data)
        kill_group(tally)
        on_stream = nats_server.stream()[0]
        check(0 < on_stream < len(billed),
              f"killed again mid-publish ({on_stream} of {len(billed)} on the stream"
              f"{', the close not done' if closing else ''})",
              lambda: f"no such point found (E2E_CLOSE_CUSTOMERS={CUSTOMERS} too few?)")

        # 3. Started again: it closes the period and publishes what is left.
        tally = start_tally(scratch, base, nats_server.url, 1, node, 3)
        run.started(tally)
        check(tally.wait(timeout=300) == 0, "the restarted job ends with status 0")
        messages = nats_server.payloads()
        payloads = sorted(payload.decode() for _, payload in messages)
        check(payloads == sorted(billed), f"the stream holds exactly tally bill's {len(billed)} lines",
              lambda: differences(payloads, billed))
        ids = [message_id for message_id, _ in messages]
        check(len(ids) == len(set(ids)), "no message id twice in the stream")
        check(not any('"void":true' in p for p in payloads), "no void (nothing was billed and then dropped)")

        # 4. The customers' totals file agrees with the lines.
        totals_file = data / "totals" / f"{PERIOD}.jsonl"
        totals = {}
        for line in totals_file.read_text().splitlines():
            parsed = json.loads(line)
            totals[parsed["customer"]] = (int(parsed["amount_minor"]), parsed["lines"])
        want = totals_from(billed)
        check(totals == want, f"the totals file has each of the {len(want)} customers' amount and lines once",
              lambda: f"{len(set(want) - set(totals))} customers missing, "
                      f"{sum(1 for c in want if c in totals and totals[c] != want[c])} differ")

        # 5. Closing again publishes nothing.
        tally = start_tally(scratch, base, nats_server.url, 1, node, 4)
        run.started(tally)
        check(tally.wait(timeout=300) == 0, "closing the period again ends with status 0")
        check(nats_server.stream()[0] == len(billed), "closing again published nothing")
        print(f"close e2e took {time.monotonic() - started:.1f} s for {len(billed)} lines", flush=True)
    print(f"{support.checks} checks passed")


if __name__ == "__main__":
    main()
