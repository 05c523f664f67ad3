#!/usr/bin/env python3
"""Writes the seeds of fuzz_monitor (fuzz/corpus/monitor/) from a real
libzmq monitor, with Debian's python3-zmq.

Each scenario runs real sockets over loopback while libzmq's monitor (v1)
reports their events; the messages are written as fuzz_monitor reads them
(see fuzz/fuzz_monitor.c): a version byte, then frames [more][u16 length,
little-endian][bytes]. The v1 seed holds the frames libzmq sent. Debian's
libzmq has no v2 monitor, so the v2 seed carries the same events in the
v2 layout of libzmq 4.3's socket_base_t::monitor_event ([u64 event][u64
count][u64 value][local][remote]), with the two ends each connection
really had (getsockname and getpeername on the event's fd), and the
unconnected ends libzmq gives a bind or a connect before it has a peer.

Usage: fuzz/monitor_seeds.py [DIR]   (default: fuzz/corpus/monitor)
"""

import os
import socket
import struct
import sys
import time

import zmq

EVENTS_WITH_FD = {zmq.EVENT_CONNECTED, zmq.EVENT_LISTENING,
                  zmq.EVENT_ACCEPTED, zmq.EVENT_CLOSED,
                  zmq.EVENT_DISCONNECTED}
HANDSHAKE = {zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
             zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
             zmq.EVENT_HANDSHAKE_FAILED_AUTH}
BIND_SIDE = {zmq.EVENT_LISTENING, zmq.EVENT_BIND_FAILED,
             zmq.EVENT_ACCEPTED, zmq.EVENT_ACCEPT_FAILED}


RECORDERS = []


def close_monitors():
    """Frees the inproc names of the monitors, stopped or not."""
    for rec in RECORDERS:
        rec.monitor.close(linger=0)
    RECORDERS.clear()


def uri(s, address):
    """An end as libzmq names it: tcp://host:port, or ipc://path (empty
    for the unnamed end of an ipc connection)."""
    if s.family == socket.AF_UNIX:
        return "ipc://" + (address or "")
    return "tcp://%s:%d" % address[:2]


class Recorder:
    """One socket's monitor: its messages in order, and each message's
    two ends as v2 would give them."""

    def __init__(self, ctx, sock):
        self.sock = sock
        self.monitor = sock.get_monitor_socket()
        self.messages = []  # (event, value, endpoint, local, remote)
        self.ends = {}      # fd -> (local, remote) while it is open
        self.last = None    # the ends of the last connection opened
        RECORDERS.append(self)

    def ends_of(self, event, value, endpoint):
        if event == zmq.EVENT_LISTENING:
            self.ends[value] = (endpoint, "")
            return self.ends[value]
        if event in HANDSHAKE and self.last:
            return self.last  # of the connection that just opened
        if event in (zmq.EVENT_CONNECTED, zmq.EVENT_ACCEPTED):
            try:
                s = socket.socket(fileno=os.dup(value))
                pair = (uri(s, s.getsockname()), uri(s, s.getpeername()))
                s.close()
            except OSError:
                pair = (endpoint, "") if event in BIND_SIDE else ("", endpoint)
            self.ends[value] = self.last = pair
            return pair
        if event in (zmq.EVENT_DISCONNECTED, zmq.EVENT_CLOSED) and \
                value in self.ends:
            return self.ends.pop(value)
        return (endpoint, "") if event in BIND_SIDE else ("", endpoint)

    def drain(self, wait=0.3):
        deadline = time.time() + wait
        while time.time() < deadline:
            if not self.monitor.poll(20):
                continue
            head, endpoint = self.monitor.recv_multipart()
            event, value = struct.unpack("=HI", head)
            local, remote = self.ends_of(event, value, endpoint.decode())
            self.messages.append((event, value, endpoint.decode(), local,
                                  remote))
            if event == zmq.EVENT_MONITOR_STOPPED:
                self.monitor.close(linger=0)  # frees its inproc name
                return


def frames_v1(messages):
    for event, value, endpoint, _, _ in messages:
        yield [struct.pack("=HI", event, value), endpoint.encode()]


def frames_v2(messages):
    for event, value, _, local, remote in messages:
        yield [struct.pack("=Q", event), struct.pack("=Q", 1),
               struct.pack("=Q", value), local.encode(), remote.encode()]


def write_seed(path, version, messages):
    out = bytearray([version - 1])
    frames_of = frames_v1 if version == 1 else frames_v2
    for frames in frames_of(messages):
        for i, frame in enumerate(frames):
            out += struct.pack("<BH", int(i + 1 < len(frames)), len(frame))
            out += frame
    with open(path, "wb") as f:
        f.write(out)


def session(ctx):
    """A ROUTER that a DEALER connects to, talks with and leaves."""
    server = ctx.socket(zmq.ROUTER)
    rec_server = Recorder(ctx, server)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.DEALER)
    rec_client = Recorder(ctx, client)
    client.connect("tcp://127.0.0.1:%d" % port)
    client.send(b"hello")
    server.recv_multipart()
    rec_server.drain()
    rec_client.drain()
    client.close(linger=0)
    rec_client.drain()
    rec_server.drain()
    server.close(linger=0)
    rec_server.drain()
    return rec_server.messages, rec_client.messages


def retry(ctx):
    """A DEALER connecting to a port nobody listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.RECONNECT_IVL, 50)
    rec = Recorder(ctx, client)
    client.connect("tcp://127.0.0.1:%d" % port)
    rec.drain(0.4)
    client.close(linger=0)
    rec.drain()
    return rec.messages


def failures(ctx):
    """A bind to a port in use, and a peer that breaks the handshake."""
    server = ctx.socket(zmq.ROUTER)
    rec = Recorder(ctx, server)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    other = ctx.socket(zmq.ROUTER)
    rec_other = Recorder(ctx, other)
    try:
        other.bind("tcp://127.0.0.1:%d" % port)
    except zmq.ZMQError:
        pass
    rec_other.drain()
    raw = socket.create_connection(("127.0.0.1", port))
    raw.sendall(b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00NOT-A-MECHANISM" * 4)
    rec.drain()
    raw.close()
    rec.drain()
    other.close(linger=0)
    rec_other.drain()
    server.close(linger=0)
    rec.drain()
    return rec.messages + rec_other.messages


def ipc(ctx):
    """A ROUTER and a DEALER over ipc, whose peers have no address."""
    path = "ipc:///tmp/zmqsink-fuzz-seed.ipc"
    server = ctx.socket(zmq.ROUTER)
    rec = Recorder(ctx, server)
    server.bind(path)
    client = ctx.socket(zmq.DEALER)
    client.connect(path)
    rec.drain()
    client.close(linger=0)
    rec.drain()
    server.close(linger=0)
    rec.drain()
    return rec.messages


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "monitor")
    os.makedirs(out, exist_ok=True)
    ctx = zmq.Context()
    server, client = session(ctx)
    close_monitors()
    scenarios = {"session-server": server, "session-client": client}
    for name, scenario in (("retry", retry), ("failures", failures),
                           ("ipc", ipc)):
        scenarios[name] = scenario(ctx)
        close_monitors()
    for name, messages in scenarios.items():
        for version in (1, 2):
            write_seed(os.path.join(out, "v%d-%s" % (version, name)),
                       version, messages)
        print("%s: %d messages" % (name, len(messages)))
    ctx.term()


if __name__ == "__main__":
    main()
