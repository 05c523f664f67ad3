"""A pyzmq program that monitors its own DEALER with the usual idioms, run
by the tests with and without `zmqsink run`, which must not change what it
sees. It prints the events its monitor delivered, one line:

  before   get_monitor_socket() before connect, wait for
           EVENT_HANDSHAKE_SUCCEEDED, then disable_monitor()
  after    connect and talk first, then get_monitor_socket(), and see the
           server go away (EVENT_DISCONNECTED) and the socket close
  again    monitor, disable, and monitor again at the same address once the
           first monitor is gone; disable it before closing its reader
           (see reuse)
  reuse    three times: monitor, connect, wait for
           EVENT_HANDSHAKE_SUCCEEDED, disable_monitor(), close the
           monitor's reader (EVENT_MONITOR_STOPPED unread) and
           disconnect; pyzmq binds each at the same address, named after
           the socket's fd (tried for 2 s: libzmq frees it in the
           background). The reader is closed after disable_monitor():
           closed before, libzmq's own send of EVENT_MONITOR_STOPPED
           blocks for ever when the reader's pipe is already gone, which
           hangs the program now and then, with or without zmqsink.

connect_delayed is left out: whether a loopback connect completes at once
is up to the kernel. Exits 0, or 1 when an awaited event never came.

Usage: own_monitor.py MODE PORT"""
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

NAMES = {
    getattr(zmq, n): n[len("EVENT_"):].lower()
    for n in dir(zmq)
    if n.startswith("EVENT_") and n not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
}


def drain_until(monitor, seen, last, timeout_ms=10000):
    """Reads events into seen until one of type last; False on timeout."""
    while monitor.poll(timeout_ms):
        message = recv_monitor_message(monitor)
        if message["event"] != zmq.EVENT_CONNECT_DELAYED:
            seen.append(NAMES.get(message["event"], str(message["event"])))
        if message["event"] == last:
            return True
    return False


def monitor_again(socket):
    """get_monitor_socket() at an address a closed socket's monitor had:
    libzmq frees it a moment later, in the background."""
    for _ in range(200):
        try:
            return socket.get_monitor_socket()
        except zmq.ZMQError:
            time.sleep(0.01)
    return socket.get_monitor_socket()


def main(mode, port):
    endpoint = "tcp://127.0.0.1:%s" % port
    context = zmq.Context()
    server = context.socket(zmq.ROUTER)
    client = context.socket(zmq.DEALER)
    server.linger = client.linger = 0
    server.bind(endpoint)
    seen = []
    ok = True
    if mode == "before":
        monitor = client.get_monitor_socket()
        client.connect(endpoint)
        ok = drain_until(monitor, seen, zmq.EVENT_HANDSHAKE_SUCCEEDED)
        client.disable_monitor()
        ok = drain_until(monitor, seen, zmq.EVENT_MONITOR_STOPPED) and ok
        monitor.close()
        client.send(b"hello")
        server.recv_multipart()
    elif mode == "after":
        client.connect(endpoint)
        client.send(b"hello")
        server.recv_multipart()
        monitor = client.get_monitor_socket()
        server.close()
        ok = drain_until(monitor, seen, zmq.EVENT_DISCONNECTED)
        client.close()
        ok = drain_until(monitor, seen, zmq.EVENT_MONITOR_STOPPED) and ok
        monitor.close()
    elif mode == "again":
        monitor = client.get_monitor_socket()
        client.disable_monitor()
        ok = drain_until(monitor, seen, zmq.EVENT_MONITOR_STOPPED)
        monitor.close()
        monitor = monitor_again(client)
        client.connect(endpoint)
        ok = drain_until(monitor, seen, zmq.EVENT_HANDSHAKE_SUCCEEDED) and ok
        client.disable_monitor()
        monitor.close()
    elif mode == "reuse":
        for _ in range(3):
            monitor = monitor_again(client)
            client.connect(endpoint)
            ok = drain_until(monitor, seen, zmq.EVENT_HANDSHAKE_SUCCEEDED) and ok
            client.disable_monitor()
            monitor.close()
            client.disconnect(endpoint)
    print(" ".join(seen))
    server.close()
    client.close()
    context.term()
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
