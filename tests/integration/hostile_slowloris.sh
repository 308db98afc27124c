#!/usr/bin/env bash
# hostile_slowloris.sh — callers that hold connections open by trickling their request byte by byte
# cannot make trigd unreachable. With max_connections 64, max_connections_per_address 16,
# request_timeout_s 3 and reserved_connections 8:
#   A. 300 trickling connections from one address (127.0.0.2): that address gets at most 16 at a time,
#      each is closed once its request has not arrived after 3 s, and /healthz, the admin API and a
#      webhook stay reachable from another address all along;
#   B. 20 addresses (127.0.0.10-29) x 12 trickling connections, more than max_connections: new
#      connections close the oldest trickling ones, and /healthz, the admin API and a webhook are
#      still answered.
# A function that takes longer than request_timeout_s is not cut: waiting for a handler does not count.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd curl python3

start_sink --delay-ms 5000
SLOW_URL=$SINK_URL
start_sink
HTTP_PORT=$(free_port)
cat > "$WORK/trigd.json" << JSON
{
  "http": {"listen": "127.0.0.1:$HTTP_PORT", "max_connections": 64, "max_connections_per_address": 16,
           "request_timeout_s": 3, "reserved_connections": 8},
  "state_dir": "$WORK/state",
  "functions": {"f": {"type": "http", "url": "$SINK_URL/fn"},
                "slow": {"type": "http", "url": "$SLOW_URL/fn", "timeout_ms": 20000}},
  "sources": {"in": {"type": "webhook", "path": "/in"},
              "sync": {"type": "webhook", "path": "/sync", "mode": "sync", "sync_timeout_ms": 20000}},
  "routes": {"r": {"source": "in", "function": "f"}, "rs": {"source": "sync", "function": "slow"}}
}
JSON
start_trigd "$WORK/trigd.json"

# slowloris NAME PER_ADDRESS ADDRESS...: keeps PER_ADDRESS connections per source address open, each
# sending one byte of a never-ending request header every 0.5 s, and reopens those the server closes
# (every 0.5 s). Writes "opened N refused R cut C" to $WORK/NAME.stats every second: refused are closed
# by the server before 2 bytes went out (over a limit), cut after 4 or more (trickled for 2 s or
# more). Stops when $WORK/NAME.stop exists.
slowloris() {
    local name=$1 per=$2
    shift 2
    python3 - "$HTTP_PORT" "$per" "$WORK/$name.stats" "$WORK/$name.stop" "$@" << 'PY' &
import os, selectors, socket, sys, time
port, per, stats, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
addrs = sys.argv[5:]
sel = selectors.DefaultSelector()
conns = {}  # sock -> (addr, bytes sent)
opened = refused = cut = 0
head = b"POST /in HTTP/1.1\r\nHost: x\r\n"
def open_one(addr):
    global opened
    s = socket.socket()
    s.bind((addr, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    sel.register(s, selectors.EVENT_READ)
    conns[s] = [addr, 0]
    opened += 1
last_trickle = last_stats = 0.0
while not os.path.exists(stop):
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # the server closed it
            sel.unregister(s)
            s.close()
            sent = conns.pop(s)[1]
            if sent < 2:
                refused += 1
            elif sent >= 4:
                cut += 1
    now = time.monotonic()
    if now - last_trickle >= 0.5:
        last_trickle = now
        counts = {}
        for a, _ in conns.values():
            counts[a] = counts.get(a, 0) + 1
        for a in addrs:
            for _ in range(per - counts.get(a, 0)):
                open_one(a)
        for s, st in list(conns.items()):
            b = head[st[1]:st[1] + 1] if st[1] < len(head) else b"X"
            try:
                s.send(b)
                st[1] += 1
            except OSError:
                pass
    if now - last_stats >= 1:
        last_stats = now
        with open(stats + ".tmp", "w") as f:
            f.write("opened %d refused %d cut %d\n" % (opened, refused, cut))
        os.replace(stats + ".tmp", stats)
PY
    _track $!
}
stat_of() { awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$WORK/$1.stats"; }
_stats_exist() { [[ -s "$WORK/$1.stats" ]]; }
_stat_at_least() { _stats_exist "$1" && (($(stat_of "$1" "$2") >= $3)); }

# still_served: /healthz, the admin API and a webhook answer from 127.0.0.1.
still_served() {
    assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$(trigd_url /healthz)" || true)" \
        "/healthz under attack ($1)"
    assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$(trigd_url /admin/status)" || true)" \
        "/admin/status under attack ($1)"
    assert_eq 202 "$(post_json "$(trigd_url /in)" "{\"phase\":\"$1\"}")" "a webhook under attack ($1)"
}

# --- A: one address -------------------------------------------------------------------------------
slowloris a 300 127.0.0.2
wait_for 10 _stats_exist a
still_served A
# Beyond 16 the address is refused; the 16 it holds are closed after request_timeout_s, however they
# trickle.
wait_for 20 _stat_at_least a refused 200
wait_for 30 _stat_at_least a cut 32
grep -q 'did not arrive within 3 s' "$TRIGD_LOG" || fail "no log line for connections past request_timeout_s"
still_served A2
touch "$WORK/a.stop"

# --- B: more addresses than max_connections can hold ---------------------------------------------
addrs=()
for i in $(seq 10 29); do addrs+=("127.0.0.$i"); done
slowloris b 12 "${addrs[@]}"
wait_for 20 _stat_at_least b opened 240
still_served B
grep -q 'http.reserved_connections' "$TRIGD_LOG" || fail "no connection was closed to keep a slot free"
touch "$WORK/b.stop"

# --- a slow function is not a slow client: 5 s with the function, request_timeout_s 3 ----------------
assert_eq 200 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --data-binary '{}' "$(trigd_url /sync)" \
    || true)" "a sync webhook whose function takes longer than request_timeout_s"
stop_trigd
log "ok: one address: $(cat "$WORK/a.stats"); many: $(cat "$WORK/b.stats")"
