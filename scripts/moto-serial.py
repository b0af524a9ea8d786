#!/usr/bin/env python3
"""moto's server, answering one request at a time.

moto checks a DynamoDB transaction's conditions and applies its writes
without a lock, so two concurrent TransactWriteItems can both pass a
condition that real DynamoDB (whose transactions are serializable) lets only
one pass. gatebot's store relies on that guarantee, and its contract tests
check it with concurrent writers; run on plain `moto_server` they fail now
and then for moto's sake, not gatebot's. Requests are served on threads as
moto does, but handled one at a time (moto holds Python's GIL for nearly all
of a request anyway).

    moto-serial.py HOST PORT
"""
import signal
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # The whole answer is made inside the lock.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
