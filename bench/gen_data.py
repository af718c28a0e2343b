#!/usr/bin/env python3
"""Writes a benchmark data set: JSON Lines usage events or S3 server access
log lines, about SIZE megabytes, over KEYS distinct (customer, bucket)
pairs, through October 2026. Deterministic for a given size and key count.

    python3 bench/gen_data.py --format jsonl --mb 100 --keys 100000 --out /tmp/x.jsonl
"""
import argparse
import random
import sys

OCT1 = 1790812800  # 2026-10-01T00:00:00Z


def stamp(t):
    # RFC 3339 without calendar math per line: October 2026 only.
    day, rest = divmod(t - OCT1, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"2026-10-{day + 1:02d}T{h:02d}:{m:02d}:{s:02d}Z"


def s3_stamp(t):
    day, rest = divmod(t - OCT1, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{day + 1:02d}/Oct/2026:{h:02d}:{m:02d}:{s:02d} +0000"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["jsonl", "s3"], required=True)
    ap.add_argument("--mb", type=int, required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.mb * 1_000_003 + a.keys)
    target = a.mb * 1_000_000
    written = 0
    i = 0
    with open(a.out, "w", buffering=1 << 20) as f:
        while written < target:
            lines = []
            for _ in range(4096):
                i += 1
                k = rng.randrange(a.keys)
                customer, bucket = f"cust-{k // 4}", f"bucket-{k % 4}"
                t = OCT1 + rng.randrange(31 * 86400)
                value = rng.randrange(1, 50_000_000)
                if a.format == "jsonl":
                    lines.append(f'{{"specversion":"1.0","id":"evt-{i}","source":"/edge/fra1","type":"com.tally.usage",'
                                 f'"subject":"{customer}","time":"{stamp(t)}","data":{{"resource":"{bucket}",'
                                 f'"meter":"bandwidth_out_bytes","value":{value}}}}}\n')
                else:
                    lines.append(f'{customer} {bucket} [{s3_stamp(t)}] 192.0.2.{i % 250} {customer} REQ{i:012X} '
                                 f'REST.GET.OBJECT obj/{i % 997}.bin "GET /{bucket}/obj/{i % 997}.bin HTTP/1.1" 200 - '
                                 f'{value} {value} 12 3 "-" "aws-cli/2.15" - hid{i}= SigV4 ECDHE-RSA-AES128-GCM-SHA256 '
                                 f'AuthHeader {bucket}.s3.amazonaws.com TLSv1.3 - -\n')
            block = "".join(lines)
            f.write(block)
            written += len(block)
    print(f"{a.out}: {written / 1e6:.1f} MB, {i} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
