"""A pyzmq program that executes another program, run by the tests under
`zmqsink run` with and without --no-children: it binds a PUSH socket of
its own on 127.0.0.1, runs PROGRAM ARGS... as a child process and waits
for it. Prints "parent PID", "child PID" and "child exited CODE"; exits
with the child's code (1 if it died of a signal).

Usage: exec_child.py PROGRAM [ARGS...]"""
import os
import subprocess
import sys

import zmq


def main(argv):
    context = zmq.Context()
    own = context.socket(zmq.PUSH)
    own.linger = 0
    own.bind_to_random_port("tcp://127.0.0.1")
    child = subprocess.Popen(argv)
    code = child.wait()
    print("parent %d" % os.getpid())
    print("child %d" % child.pid)
    print("child exited %d" % code)
    own.close()
    context.term()
    return code if code >= 0 else 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
