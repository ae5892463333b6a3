"""moto's server for the test suites, with DynamoDB calls taken one at a time.

moto answers requests on many threads, but its DynamoDB TransactWriteItems is not atomic
across them: a cancelled transaction rolls tables back to a copy taken before it began,
which can undo (or resurrect) a write another thread made in between. Real DynamoDB
serialises conflicting transactions, and the suites test exactly that guarantee, so here
every DynamoDB and DynamoDB Streams request holds one lock. Other services (SQS long polls,
S3, SES) stay concurrent.
"""

import argparse
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class OneDynamoDBCallAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                # The response body is produced inside the lock, so the whole call is one step.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, OneDynamoDBCallAtATime(app), threaded=True)


if __name__ == "__main__":
    main()
