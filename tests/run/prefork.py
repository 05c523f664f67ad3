"""A pre-fork pyzmq server, run by the tests under `zmqsink run`: the
parent binds a ROUTER on 127.0.0.1:PORT, then starts WORKERS processes
(os.fork, or multiprocessing with the fork start method) that each open a
context of their own, connect a DEALER to localhost:PORT, say hello with
their pid, wait for the answer, and hold the connection until every worker
has been answered. Each worker also binds a socket of its own on a free
port, so that every process has a listening socket. The parent answers,
waits for its workers, closes and exits. Prints one line per worker,
"worker PID", then "done"; exits 0, or 1 when a worker failed.

Usage: prefork.py fork|multiprocessing PORT WORKERS"""
import multiprocessing
import os
import sys

import zmq


def worker(port, release):
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    own = context.socket(zmq.PULL)
    dealer.linger = own.linger = 0
    own.bind_to_random_port("tcp://127.0.0.1")
    dealer.connect("tcp://localhost:%s" % port)
    dealer.send(b"%d" % os.getpid())
    if not dealer.poll(20000):
        return 1
    dealer.recv()
    os.read(release, 1)  # stay connected until every worker is answered
    dealer.close()
    own.close()
    context.term()
    return 0


def child_main(port, release):
    # What multiprocessing runs: its child ends with os._exit() as well.
    sys.exit(worker(port, release))


def main(mode, port, workers):
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    router.bind("tcp://127.0.0.1:%s" % port)
    release_read, release_write = os.pipe()
    children = []
    if mode == "fork":
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    status = worker(port, release_read)
                finally:
                    os._exit(status)
            children.append(pid)
    else:
        forked = multiprocessing.get_context("fork")
        for _ in range(workers):
            child = forked.Process(target=child_main, args=(port, release_read))
            child.start()
            children.append(child)
    answered = []
    for _ in range(workers):
        if not router.poll(20000):
            break
        identity, pid = router.recv_multipart()
        router.send_multipart([identity, b"ok"])
        answered.append(int(pid))
    os.write(release_write, b"x" * workers)
    failed = len(answered) != workers
    for child in children:
        if mode == "fork":
            _, status = os.waitpid(child, 0)
            failed |= status != 0
        else:
            child.join()
            failed |= child.exitcode != 0
    for pid in sorted(answered):
        print("worker %d" % pid)
    print("done")
    router.close()
    context.term()
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
