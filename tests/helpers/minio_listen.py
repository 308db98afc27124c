#!/usr/bin/env python3
"""minio_listen.py: a stand-in for MinIO's ListenBucketNotification API, for trigd's tests.

Serves GET /<bucket>?events=...&ping=N (or GET /?events=...) on 127.0.0.1, prints the port it bound
on stdout, then a newline, once it is ready. Every request must carry a SigV4 Authorization header
for --access-key/--secret-key, --region and service "s3" (checked with lambda_server.py's verifier);
otherwise it answers 403 like MinIO (SignatureDoesNotMatch).

A session plays a script: the lines of --stream FILE are split at lines that are exactly `#drop`
into sessions; connection number n plays session n (the last one again once they run out, without
its #drop). In a session, a line
  #spaces N      sends N single-space keep-alives (old MinIO), 20 ms apart, without a newline
  #wait FILE     waits until FILE exists (the test decides when the session goes on)
  #hold          keeps the connection open, sending {"Records":null} pings every second
  #mark FILE     writes the wall-clock time in ms to FILE (once every line before it was written: a
                 reader that stops reading makes the server block before it gets there)
  anything else  is sent as is, followed by a newline.
A session that ends with #drop closes the connection abruptly (no chunked terminator) at that point.
--record FILE appends one JSON line per request: path, query, authorization, signature_error.
Stops on SIGTERM/SIGINT, or when its parent process exits. Python 3 standard library only.
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lambda_server import verify_sigv4  # noqa: E402  (same directory)

ARGS = None
SESSIONS = []
LOCK = threading.Lock()
COUNT = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MinIO"

    def log_message(self, fmt, *args):
        pass

    def _record(self, entry):
        if ARGS.record:
            with LOCK, open(ARGS.record, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        raw_path, _, query = self.path.partition("?")
        err = verify_sigv4("GET", raw_path, query, self.headers, b"", ARGS.access_key, ARGS.secret_key,
                           ARGS.region, service="s3")
        with LOCK:
            COUNT[0] += 1
            n = COUNT[0]
        self._record({"n": n, "path": raw_path, "query": urllib.parse.parse_qs(query),
                      "authorization": self.headers.get("Authorization"), "signature_error": err})
        if err:
            body = ("<Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error>" % err).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        session = SESSIONS[min(n, len(SESSIONS)) - 1]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for line in session["lines"]:
                if line.startswith("#spaces "):
                    for _ in range(int(line.split()[1])):
                        self._chunk(b" ")
                        time.sleep(0.02)
                elif line.startswith("#wait "):
                    path = line.split(None, 1)[1]
                    while not os.path.exists(path):
                        time.sleep(0.02)
                elif line.startswith("#mark "):
                    path = line.split(None, 1)[1]
                    with open(path + ".tmp", "w") as f:
                        f.write("%d\n" % int(time.time() * 1000))
                    os.replace(path + ".tmp", path)
                elif line == "#hold":
                    while True:
                        self._chunk(b'{"Records":null}\n')
                        time.sleep(1)
                else:
                    self._chunk(line.encode() + b"\n")
            if session["drop"] and n <= len(SESSIONS):
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            while True:  # a finished script holds the connection, like MinIO
                self._chunk(b'{"Records":null}\n')
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True


def load_sessions(path):
    sessions, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line == "#drop":
                sessions.append({"lines": cur, "drop": True})
                cur = []
            elif line:
                cur.append(line)
    sessions.append({"lines": cur, "drop": False})
    return sessions


def main():
    global ARGS, SESSIONS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--stream", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--record")
    ARGS = p.parse_args()
    SESSIONS = load_sessions(ARGS.stream)
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
