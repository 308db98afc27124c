#!/usr/bin/env python3
"""lambda_server.py: a stand-in for the AWS Lambda Invoke API, for trigd's tests.

Serves POST /2015-03-31/functions/{name}/invocations[?Qualifier=q] on 127.0.0.1 and prints the
port it bound (port 0 = a free one) on stdout, then a newline, once it is ready.

With --access-key and --secret-key it VERIFIES the SigV4 Authorization header the way AWS does
(canonical request, string to sign, the derived key for date/region/service "lambda") and answers
403 InvalidSignatureException when it is missing or does not match. The canonical URI is the
request path exactly as sent (which is what AWS computes for names made of unreserved characters).

--mode picks the answer to a well-signed request:
  echo      200, the payload as the body (default)
  error     200 with X-Amz-Function-Error: Unhandled and a Lambda error body
  throttle  429 TooManyRequestsException
  fixed     200 with --body as the body
  rie-error    200 with a Lambda error body and no X-Amz-Function-Error (the Runtime Interface Emulator)
  rie-timeout  200 text/plain "Task timed out after 1.00 seconds" (the emulator's timeout)
--record FILE appends one JSON line per request (path, function, qualifier, headers, body,
status, signature_ok). Stops on SIGTERM/SIGINT, or when its parent process exits. Python 3 standard library only.
"""
import argparse
import calendar
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def canonical_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    enc = [(urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in pairs]
    return "&".join("%s=%s" % kv for kv in sorted(enc))


def verify_sigv4(method, raw_path, query, headers, body, access_key, secret_key, region, service="lambda"):
    """Return None when the signature is valid, else a sentence saying why it is not."""
    auth = headers.get("Authorization")
    if not auth:
        return "no Authorization header"
    m = AUTH_RE.match(auth.strip())
    if not m:
        return "malformed Authorization header"
    key_id, date, req_region, req_service, signed, signature = m.groups()
    if key_id != access_key:
        return "unknown access key %s" % key_id
    if req_region != region or req_service != service:
        return "credential scope %s/%s, expected %s/%s" % (req_region, req_service, region, service)
    amz_date = headers.get("X-Amz-Date", "")
    if not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != date:
        return "missing or inconsistent X-Amz-Date"
    skew = abs(time.time() - calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    if skew > 15 * 60:
        return "X-Amz-Date is %d s away from now" % skew
    names = signed.split(";")
    if "host" not in names:
        return "host is not a signed header"
    lines = []
    for name in names:
        values = headers.get_all(name)
        if values is None:
            return "signed header %s is missing" % name
        value = ",".join(" ".join(v.split()) for v in values)
        lines.append("%s:%s\n" % (name, value))
    payload_hash = headers.get("X-Amz-Content-Sha256") or hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, raw_path or "/", canonical_query(query), "".join(lines), signed, payload_hash])
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = _hmac(("AWS4" + secret_key).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    k = _hmac(k, "aws4_request")
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "signature does not match"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server_version = "lambda_server"

    def log_message(self, fmt, *args):  # quiet; the record file is the log
        pass

    def _send(self, status, body, extra=None, entry=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if entry is not None:  # recorded before the answer, so a client that got it finds the line
            entry["status"] = status
            self._record(entry)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        return status

    def _record(self, entry):
        path = self.server.opts.record
        if not path:
            return
        with self.server.lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def do_POST(self):
        opts = self.server.opts
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw_path, _, query = self.path.partition("?")
        entry = {"time": time.time(), "method": "POST", "path": raw_path, "query": query,
                 "headers": {k: v for k, v in self.headers.items()},
                 "body": body.decode("utf-8", "replace"), "signature_ok": None}
        m = PATH_RE.match(raw_path)
        if not m:
            self._send(404, {"Type": "User", "message": "unknown path %s" % raw_path},
                       {"X-Amzn-ErrorType": "ResourceNotFoundException"}, entry)
            return
        entry["function"] = urllib.parse.unquote(m.group(1))
        entry["qualifier"] = dict(urllib.parse.parse_qsl(query)).get("Qualifier")
        if opts.access_key:
            why = verify_sigv4("POST", raw_path, query, self.headers, body, opts.access_key, opts.secret_key,
                               opts.region)
            entry["signature_ok"] = why is None
            if why:
                entry["signature_error"] = why
                msg = "The request signature we calculated does not match the signature you provided: " + why
                self._send(403, {"message": msg}, {"X-Amzn-ErrorType": "InvalidSignatureException"}, entry)
                return
        if opts.function and entry["function"] != opts.function:
            self._send(404, {"Type": "User", "message": "Function not found: %s" % entry["function"]},
                       {"X-Amzn-ErrorType": "ResourceNotFoundException"}, entry)
        elif opts.mode == "error":
            self._send(200, {"errorMessage": "handler failed", "errorType": "Error", "stackTrace": []},
                       {"X-Amz-Function-Error": "Unhandled"}, entry)
        elif opts.mode == "throttle":
            self._send(429, {"Type": "User", "message": "Rate Exceeded."},
                       {"X-Amzn-ErrorType": "TooManyRequestsException"}, entry)
        elif opts.mode == "rie-error":
            self._send(200, {"errorMessage": "handler failed", "errorType": "Error", "stackTrace": []}, None, entry)
        elif opts.mode == "rie-timeout":
            self._send(200, b"Task timed out after 1.00 seconds", None, entry)
        elif opts.mode == "fixed":
            self._send(200, opts.body.encode(), None, entry)
        else:
            self._send(200, body, None, entry)


def watch_parent(server):
    """Stop when the process that started us is gone, so a failed test leaves no server behind."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    server.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 = a free one)")
    ap.add_argument("--access-key", help="verify SigV4 signatures made with this access key id")
    ap.add_argument("--secret-key", help="secret of --access-key")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--function", help="the only function name that exists (default: any)")
    ap.add_argument("--mode", choices=["echo", "error", "throttle", "fixed", "rie-error", "rie-timeout"], default="echo")
    ap.add_argument("--body", default="{}", help="response body for --mode fixed")
    ap.add_argument("--record", help="append one JSON line per request to this file")
    opts = ap.parse_args()
    if bool(opts.access_key) != bool(opts.secret_key):
        ap.error("--access-key and --secret-key go together")

    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    server.opts = opts
    server.lock = threading.Lock()

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch_parent, args=(server,), daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
