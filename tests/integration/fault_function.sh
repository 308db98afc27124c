#!/usr/bin/env bash
# fault_function.sh — a function that never answers, one that answers 1 GB, one that closes its connection
# mid-body: each attempt fails with its own error type, the event is retried (max_retry_attempts 1: two
# attempts each) and then goes to the DLQ naming that error; trigd's memory stays bounded (its peak RSS
# stays far below the 1 GB it was offered, max_response_bytes being 6 MiB).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

# A function server: /hang never answers, /huge streams 1 GB, /cut announces 1000 bytes and closes after
# 10. Each request appends its path to $WORK/calls.
python3 - "$WORK/calls" > "$WORK/fn.port" 2> "$WORK/fn.stderr" << 'PY' &
import sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
calls = sys.argv[1]
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock, open(calls, "a") as f:
            f.write(self.path + "\n")
        try:
            if self.path == "/hang":
                time.sleep(3600)
            elif self.path == "/huge":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                chunk = b"x" * (1 << 20)
                for _ in range(1024):
                    self.wfile.write(chunk)
            elif self.path == "/cut":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"0123456789")
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
        except OSError:
            pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
PY
_track $!
_logs+=("$WORK/fn.stderr")
_has_port() { [[ -s "$WORK/fn.port" ]]; }
wait_for 10 _has_port
FN=http://127.0.0.1:$(head -1 "$WORK/fn.port")

HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT"},
  "state_dir": "$WORK/state",
  "functions": {
    "hang": {"type": "http", "url": "$FN/hang", "timeout_ms": 1000},
    "huge": {"type": "http", "url": "$FN/huge", "timeout_ms": 60000},
    "cut": {"type": "http", "url": "$FN/cut", "timeout_ms": 10000}
  },
  "sources": {"h": {"type": "webhook", "path": "/h"}, "g": {"type": "webhook", "path": "/g"},
              "c": {"type": "webhook", "path": "/c"}},
  "routes": {
    "rh": {"source": "h", "function": "hang", "max_retry_attempts": 1, "retry_base_ms": 100},
    "rg": {"source": "g", "function": "huge", "max_retry_attempts": 1, "retry_base_ms": 100},
    "rc": {"source": "c", "function": "cut", "max_retry_attempts": 1, "retry_base_ms": 100}
  }
}
JSON
start_trigd "$WORK/trigd.json"
for p in h g c; do assert_eq 202 "$(post_json "$(trigd_url /$p)" "{\"to\":\"$p\"}")" "POST /$p"; done

dlq="$WORK/state/dlq"
_in_dlq() { [[ -s "$dlq/$1.jsonl" ]] && tail -c 1 "$dlq/$1.jsonl" | od -An -tx1 | grep -q 0a; } # a whole line
for r in rh rg rc; do wait_for 120 _in_dlq "$r"; done
calls_of() { grep -c "^/$1\$" "$WORK/calls" || true; }
for f in hang huge cut; do assert_eq 2 "$(calls_of "$f")" "attempts of the $f function"; done
err_of() { json_get "$(head -1 "$dlq/$1.jsonl")" 'j["record"]["responseContext"].get("functionError")'; }
log "DLQ functionError: hang '$(err_of rh)', huge '$(err_of rg)', cut '$(err_of rc)'"
assert_eq ResponseSizeTooLarge "$(err_of rg)" "the 1 GB answer"
[[ "$(err_of rh)" == *Timeout* ]] || fail "the hanging function's error is '$(err_of rh)', not a timeout"
[[ "$(err_of rc)" == *partial* ]] || fail "the cut answer's error is '$(err_of rc)', not a partial transfer"
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$TRIGD_PID/status")
log "trigd's peak RSS: $((hwm_kb / 1024)) MB after being offered 2 x 1 GB"
((hwm_kb < 400 * 1024)) || fail "trigd's peak RSS is $((hwm_kb / 1024)) MB: the 1 GB answer was buffered"
stop_trigd
log "ok"
