#!/usr/bin/env python3
"""Writes the bundled sample data in sample/: October 2026 of usage for a
small hosting company, in all four source formats, with a few malformed
lines on purpose (they must end up in the rejects file, not vanish).

Deterministic: the same script writes the same bytes.

    python3 scripts/make_sample.py
"""
import json
import random
from datetime import datetime, timedelta, timezone

rng = random.Random(2026)
OCT = datetime(2026, 10, 1, tzinfo=timezone.utc)
OWNER_ACME = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
OWNER_GLOBEX = "0c2b8f3a5d7e9f11223344556677889900aabbccddeeff00112233445566778899"


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def events():
    """CDN edge usage, CloudEvents-style: acme's bandwidth every 5 minutes
    on its busiest days (for the 95th percentile), requests hourly."""
    lines = []
    n = 0
    for day in range(31):
        for slot in range(0, 24 * 12, 3):  # every 15 minutes
            t = OCT + timedelta(days=day, minutes=5 * slot)
            for customer, resource, scale in (("acme", "cdn-acme", 9e9), ("globex", "media", 2e9), ("initech", "site", 1e8)):
                n += 1
                burst = 4 if (day % 7 == 3 and 18 * 12 <= slot < 20 * 12) else 1
                value = int(scale * burst * (0.5 + rng.random()))
                lines.append({"specversion": "1.0", "id": f"evt-{n:06d}", "source": "/edge/fra1",
                              "type": "com.tally.usage", "subject": customer, "time": stamp(t),
                              "data": {"resource": resource, "meter": "bandwidth_out_bytes", "value": value}})
        for customer, resource in (("acme", "cdn-acme"), ("globex", "media")):
            n += 1
            lines.append({"specversion": "1.0", "id": f"evt-{n:06d}", "source": "/edge/fra1",
                          "type": "com.tally.usage", "subject": customer, "time": stamp(OCT + timedelta(days=day, hours=12)),
                          "data": {"resource": resource, "meter": "requests", "value": rng.randint(200_000, 900_000)}})
    out = [json.dumps(e, separators=(",", ":")) for e in lines]
    out.insert(100, out[99])  # a replayed event: counted once
    out.insert(500, '{"specversion":"1.0","id":"evt-bad-1","subject":"acme","time":"2026-10-02T00:00:00Z","data":{"resource":"cdn-acme","meter":"bandwidth_out_bytes","value":"12"}}')
    out.insert(900, '{"id": "evt-bad-2", "subject": "acme", truncated')
    return "\n".join(out) + "\n"


def s3_log():
    """S3 server access log lines of two customers' buckets."""
    ops = [("REST.GET.OBJECT", "GET", 200), ("REST.PUT.OBJECT", "PUT", 200), ("REST.HEAD.OBJECT", "HEAD", 404)]
    lines = []
    for i in range(600):
        t = OCT + timedelta(seconds=rng.randint(0, 31 * 86400 - 1))
        owner, bucket = rng.choice([(OWNER_ACME, "acme-assets"), (OWNER_GLOBEX, "globex-video")])
        op, method, status = rng.choice(ops)
        key = f"obj/{rng.randint(1, 400)}.bin"
        sent = rng.randint(10_000, 80_000_000) if method == "GET" else "-"
        size = rng.randint(10_000, 20_000_000) if method == "PUT" else "-"
        lines.append(f'{owner} {bucket} [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] 192.0.2.{rng.randint(1, 254)} '
                     f'{owner} REQ{i:08X}EXAMPLE {op} {key} "{method} /{bucket}/{key} HTTP/1.1" {status} - '
                     f'{sent} {size} {rng.randint(1, 900)} {rng.randint(1, 90)} "-" "aws-sdk-go/1.44 (go1.21; linux; amd64)" - '
                     f'hostid{i}= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {bucket}.s3.eu-central-1.amazonaws.com TLSv1.2 - -')
    lines.insert(300, f"{OWNER_ACME} acme-assets [not a time] broken line")
    return "\n".join(lines) + "\n"


def rgw_usage():
    """`radosgw-admin usage show` for the Ceph cluster's customers."""
    entries = []
    for user, bucket in (("initech", "backups"), ("acme", "acme-archive")):
        buckets = []
        for day in range(0, 31, 2):
            t = OCT + timedelta(days=day, hours=3)
            buckets.append({"bucket": bucket, "time": t.strftime("%Y-%m-%d %H:%M:%S.000000Z"),
                            "epoch": int(t.timestamp()), "owner": user,
                            "categories": [
                                {"category": "get_obj", "bytes_sent": rng.randint(1, 40) * 2**30,
                                 "bytes_received": 0, "ops": rng.randint(100, 5000), "successful_ops": 0},
                                {"category": "put_obj", "bytes_sent": 0, "bytes_received": rng.randint(1, 10) * 2**30,
                                 "ops": rng.randint(10, 500), "successful_ops": 0}]})
            for c in buckets[-1]["categories"]:
                c["successful_ops"] = c["ops"] - rng.randint(0, 3)
        entries.append({"user": user, "buckets": buckets})
    return json.dumps({"entries": entries, "summary": []}, indent=4) + "\n"


def storage_csv():
    """Daily storage snapshots; acme's bucket grows through the month."""
    rows = ["timestamp,customer,bucket,bytes"]
    for day in range(31):
        t = stamp(OCT + timedelta(days=day))
        rows.append(f"{t},acme,cdn-acme,{(400 + 20 * day) * 2**30}")
        rows.append(f"{t},globex,media,{150 * 2**30}")
        rows.append(f"{t},initech,backups,{(2000 + day) * 2**30}")
    rows.insert(10, "2026-10-04T00:00:00Z,acme,cdn-acme,lots")
    return "\n".join(rows) + "\n"


PLANS = {
    "plans": {
        "hosting-pro": {"currency": "EUR", "lines": [
            {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "included": "10000",
             "pricing": {"model": "graduated", "tiers": [{"up_to": "50000", "unit_price": "5"}, {"unit_price": "3"}]}},
            {"meter": "bandwidth_out_bytes", "measure": "p95_rate", "unit": "Mbps", "included": "100",
             "pricing": {"model": "flat", "unit_price": "150"}},
            {"meter": "storage_bytes", "measure": "gb_month_average", "unit": "GB", "included": "500",
             "pricing": {"model": "volume", "tiers": [{"up_to": "1000", "unit_price": "2.3"}, {"unit_price": "2"}]}},
            {"meter": "requests", "measure": "total", "scope": "resource",
             "pricing": {"model": "package", "package_size": "1000000", "package_price": "40"}}]},
        "basic": {"currency": "EUR", "lines": [
            {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "included": "1000",
             "pricing": {"model": "flat", "unit_price": "8"}},
            {"meter": "storage_bytes", "measure": "gb_month_average", "unit": "GB", "included": "100",
             "pricing": {"model": "flat", "unit_price": "2.5"}},
            {"meter": "storage_bytes", "measure": "peak", "unit": "GB",
             "pricing": {"model": "flat", "unit_price": "0"}}]},
        "ceph-archive": {"currency": "EUR", "lines": [
            {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "included": "100",
             "pricing": {"model": "flat", "unit_price": "4"}},
            {"meter": "storage_bytes", "measure": "gb_month_average", "unit": "GB", "included": "1000",
             "pricing": {"model": "graduated", "tiers": [{"up_to": "1000", "unit_price": "1"}, {"unit_price": "0.8"}]}}]},
    },
    "customers": {"acme": "hosting-pro", OWNER_ACME: "hosting-pro", "globex": "basic",
                  OWNER_GLOBEX: "basic", "initech": "ceph-archive"},
}

if __name__ == "__main__":
    import os
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample")
    os.makedirs(os.path.join(here, "rgw"), exist_ok=True)
    for name, text in (("events.jsonl", events()), ("s3_access.log", s3_log()),
                       ("rgw/usage-2026-10.json", rgw_usage()), ("storage.csv", storage_csv()),
                       ("plans.json", json.dumps(PLANS, indent=2) + "\n")):
        with open(os.path.join(here, name), "w", newline="\n") as f:
            f.write(text)
