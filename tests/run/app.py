"""An ordinary pyzmq program that the tests run under `zmqsink run`: a
ROUTER bound on 127.0.0.1:PORT and a DEALER that connects, says hello and
gets an answer; both closed, the context terminated. Exits with EXIT_CODE.

Usage: app.py PORT EXIT_CODE"""
import sys

import zmq


def main(port, exit_code):
    endpoint = "tcp://127.0.0.1:%s" % port
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    dealer = context.socket(zmq.DEALER)
    router.linger = dealer.linger = 0
    router.bind(endpoint)
    dealer.connect(endpoint)
    dealer.send(b"hello")
    identity, _ = router.recv_multipart()
    router.send_multipart([identity, b"world"])
    dealer.recv()
    dealer.close()
    router.close()
    context.term()
    return int(exit_code)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
