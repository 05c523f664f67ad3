#!/usr/bin/env python3
"""Writes the seeds of fuzz_format, fuzz_syslog and fuzz_statsd
(fuzz/corpus/{format,syslog,statsd}/) from real events.

It runs `zmqsink demo` with a json file sink, takes one event of each type
the scene produces, adds the events no demo provokes (a failed bind, a
refused ZAP handshake) and events whose text fields are as odd as a
program may make them (quotes, brackets, controls, invalid UTF-8, fields
without their NUL, times before 1970 and past 2262), and writes each as the
zmqsink_event_t record a plugin receives (include/zmqsink/event.h), in the
input layout each target's comment gives.

Usage: fuzz/event_seeds.py [ZMQSINK]   (default: build/zmqsink)
"""

import json
import os
import struct
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

EVENTS = ["connected", "connect_delayed", "connect_retried", "listening",
          "bind_failed", "accepted", "accept_failed", "closed",
          "close_failed", "disconnected", "monitor_stopped",
          "handshake_failed_no_detail", "handshake_succeeded",
          "handshake_failed_protocol", "handshake_failed_auth"]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info",
              "debug"]
SOCKET_TYPES = ["pair", "pub", "sub", "req", "rep", "dealer", "router",
                "pull", "push", "xpub", "xsub", "stream"]
# seq, time_ns, duration_ms, type, value, socket_type, severity,
# reserved[27], socket[64], endpoint[256], peer[64]: 448 bytes.
RECORD = struct.Struct("<QqqIIiB27x64s256s64s")
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(ev):
    ts = datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc)
    micros = (ts - datetime(1970, 1, 1, tzinfo=timezone.utc)) // \
        datetime.resolution
    text = {k: ev[k] if isinstance(ev[k], bytes) else (ev[k] or "").encode()
            for k in ("socket", "endpoint", "peer")}
    return RECORD.pack(
        ev["seq"], ev.get("time_ns", micros * 1000), ev.get("duration_ms", -1),
        1 << EVENTS.index(ev["event"]) if ev["event"] in EVENTS
        else ev["event"], ev["value"],
        SOCKET_TYPES.index(ev["socket_type"]), SEVERITIES.index(ev["severity"]),
        text["socket"], text["endpoint"], text["peer"])


def demo_events(zmqsink):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "c.yaml"), "w") as f:
            f.write("sinks:\n  - { name: j, type: file, path: events.jsonl, "
                    "format: json }\n")
        subprocess.run([zmqsink, "demo", "-c", "c.yaml", "-d", "2"], cwd=tmp,
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(tmp, "events.jsonl")) as f:
            events = [json.loads(line) for line in f]
    first = {}
    for ev in events:
        first.setdefault(ev["event"], ev)
    return list(first.values())


def odd_events(model):
    """What no demo makes: a failed bind, a refused ZAP handshake, odd
    text, extreme values."""
    base = dict(model, peer=None)
    return [
        dict(base, event="bind_failed", severity="err", value=98,
             endpoint="127.0.0.1:5555"),
        dict(base, event="handshake_failed_auth", severity="warning",
             value=400, peer="10.0.0.7:41000"),
        dict(base, event="handshake_failed_protocol", value=0x11000099,
             socket="caf\u00e9 \"front\" ]=[ \u2603"),
        dict(base, event="disconnected", duration_ms=2**62,
             socket=b"ctl\n\t\x1b\x7f end",
             endpoint=b"tcp://\xff\xfe\xc0\xaf:1 \xed\xa0\x80 \xf4\x90\x80\x80",
             peer=b"\xe2\x82"),
        dict(base, event="accepted", socket=b"s" * 64, endpoint=b"e" * 256,
             peer=b"p" * 64, time_ns=-1, seq=2**64 - 1, value=2**32 - 1),
        dict(base, event="connected", time_ns=2**63 - 1, socket="",
             endpoint="ipc:///run/app.sock", peer="pid:4242"),
        dict(base, event="closed", socket_type="stream", severity="debug",
             time_ns=-2**63),
    ]


def main():
    zmqsink = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        TOP, "build", "zmqsink")
    real = demo_events(zmqsink)
    events = [(ev["event"], record(ev)) for ev in real]
    events += [("odd-%d-%s" % (i, ev["event"]), record(ev))
               for i, ev in enumerate(odd_events(real[0]))]
    corpus = os.path.join(TOP, "fuzz", "corpus")
    for sub in ("format", "syslog", "statsd"):
        os.makedirs(os.path.join(corpus, sub), exist_ok=True)

    def write(sub, name, data):
        with open(os.path.join(corpus, sub, name), "wb") as f:
            f.write(data)

    # format: the record, then the size of a cut rendering.
    for i, (name, rec) in enumerate(events):
        write("format", name, rec + struct.pack("<H", 37 * i + 1))
    # syslog: [flags][facility][max_size][15 severities][hostname][app_name]
    # [sd_id] then the record; the sink's defaults and a tight max_size.
    styles = [
        (0, 3, 2048 - 480, bytes([8] * 15), b"", b"", b""),
        (3, 16, 0, bytes([8] * 9 + [4] + [8] * 5), b"host.example.com",
         b"billing", b"zmq@32473"),
        (1, 23, 100, bytes(range(15)), b"h" * 255, b"a" * 48, b"x@1"),
        (2, 1, 0, bytes([8] * 15), b"bad host", b"app", b"no-at-sign"),
    ]
    for i, (name, rec) in enumerate(events):
        flags, facility, size, sev, host, app, sd = styles[i % len(styles)]
        head = bytes([flags, facility]) + struct.pack("<H", size) + sev
        for s in (host, app, sd):
            head += bytes([len(s)]) + s
        write("syslog", name, head + rec)
    # statsd: [flags][max_packet - 64][prefix], then metrics: a counter,
    # the gauge and a timer of each event's socket, and sink metrics.
    for i, (name, rec) in enumerate(events):
        ev = RECORD.unpack(rec)
        socket = ev[7].rstrip(b"\0")[:63]
        flags, prefix = (i % 4, b"zmq" if i % 3 else b"my app:|@#")
        out = bytes([flags]) + struct.pack("<H", (1432 - 64) if i % 2 else 0)
        out += bytes([len(prefix)]) + prefix
        type_index = ev[3].bit_length() - 1
        out += bytes([4, len(socket)]) + socket + bytes([type_index]) + \
            struct.pack("<IQ", ev[4], 3)
        out += bytes([1, len(socket)]) + socket + struct.pack("<q", 2)
        out += bytes([2, len(socket)]) + socket + struct.pack(
            "<HHq", 1024, 4096, max(ev[2], 0))
        out += bytes([3, 6]) + b"alerts" + bytes([2]) + struct.pack("<Q", 7)
        out += bytes([7, 6]) + b"alerts" + bytes([4]) + struct.pack("<Q", 0)
        write("statsd", name, out)
    print("%d events: %s" % (len(events), ", ".join(n for n, _ in events)))


if __name__ == "__main__":
    main()
