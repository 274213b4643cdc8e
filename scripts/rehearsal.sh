#!/usr/bin/env bash
# Multi-node rehearsal on one machine (docs/deploy.md): two gunicorn nodes on different loopback ports
# against ONE throwaway PostgreSQL database and one Redis, sharing the secrets and the blob directory.
#   1. create a throwaway database, `flask db upgrade`, `flask demo seed`
#   2. start node A (127.0.0.1:5101) and node B (127.0.0.1:5102)
#   3. both answer /api/v1/health and serve the portal
#   4. a regulator listens on node B's /supervision/stream (SSE) while a bidder signs in on node A:
#      the audit leaf committed by A reaches B's subscriber through Redis pub/sub
#   5. the deadline surge across both nodes (bench/surge_bench.py --nodes): bidders round-robin on A and B,
#      resumable uploads dropped on one node and resumed on the other, the demo clock moved once for both;
#      fails on any invariant violation and prints accepted/refused and latency per node
#   6. stop both nodes, drop the database, remove the temporary folder
# Loopback only and bounded in time (each step has a timeout; the whole run takes about a minute).
# The surge is scaled down by default (40 bidders × 2 MiB over 10 s); the full surge of the benchmark:
#   SURGE_BIDDERS=200 SURGE_MIB=20 SURGE_WINDOW=20 GUNICORN_THREADS=32 bash scripts/rehearsal.sh
# SURGE=0 skips it.
# Needs: PostgreSQL on PGHOST:PGPORT reachable as PGUSER with CREATEDB, Redis at REDIS_URL, `make install`.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PORT_A=${PORT_A:-5101}
PORT_B=${PORT_B:-5102}
A="http://127.0.0.1:${PORT_A}"
B="http://127.0.0.1:${PORT_B}"
PY=.venv/bin/python
FLASK=.venv/bin/flask
GUNICORN=.venv/bin/gunicorn
[ -x "$GUNICORN" ] || { echo "run 'make install' first" >&2; exit 2; }

DB="ggzy_rehearsal_$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ggzy-rehearsal.XXXXXX")
PID_A=""
PID_B=""
SSE_PID=""

stop_node() {  # stop one node by the pid we started (gunicorn master: TERM = graceful shutdown)
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  [ -n "$SSE_PID" ] && kill "$SSE_PID" 2>/dev/null || true
  stop_node "$PID_A"
  stop_node "$PID_B"
  dropdb --if-exists "$DB" 2>/dev/null && echo "== dropped database $DB" || true
  rm -rf "$WORK"
  if [ "$rc" -eq 0 ]; then echo "REHEARSAL PASSED in ${SECONDS}s"; else echo "REHEARSAL FAILED (exit $rc) after ${SECONDS}s"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; for f in "$WORK"/node-*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }

# --- shared configuration: what must be identical on every node -------------------------------------------
export FLASK_APP=app:create_app
export DATABASE_URL="postgresql://${PGUSER}@${PGHOST}:${PGPORT}/${DB}"
export REDIS_URL
export BLOB_DIR="$WORK/blobs"              # the shared volume (NFS in production)
export SECRET_KEY DATA_KEY PLATFORM_SIGNING_KEY
SECRET_KEY=$($PY -c 'import secrets; print(secrets.token_hex(32))')
DATA_KEY=$($PY -c 'import secrets; print(secrets.token_urlsafe(32))')
PLATFORM_SIGNING_KEY=$($PY -c '
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
print(Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode())')
export SESSION_COOKIE_SECURE=0             # plain http on loopback only
export DEMO_CLOCK=1                        # the surge moves the demo clock (one row in the shared database)
mkdir -p "$BLOB_DIR" "$WORK/instance-a" "$WORK/instance-b" "$WORK/instance-cli"

echo "== database $DB on $PGHOST:$PGPORT, Redis $REDIS_URL, blobs $BLOB_DIR"
createdb "$DB"
INSTANCE_PATH="$WORK/instance-cli" timeout 120 $FLASK db upgrade >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log"; fail "migrate"; }
echo "   migrated: $(grep -c 'Running upgrade' "$WORK/migrate.log") migrations"
INSTANCE_PATH="$WORK/instance-cli" timeout 120 $FLASK demo seed >"$WORK/seed.log" 2>&1 || { cat "$WORK/seed.log"; fail "seed"; }
password_of() { awk -F'|' -v u="$1" '{gsub(/ /,"",$1); gsub(/ /,"",$3)} $1==u {print $3}' "$WORK/instance-cli/demo-logins.txt"; }
REG_PW=$(password_of regulator)
BID_PW=$(password_of bidder1)
[ -n "$REG_PW" ] && [ -n "$BID_PW" ] || fail "demo logins not found"
echo "   seeded the demo city ($(($(wc -l <"$WORK/instance-cli/demo-logins.txt") - 1)) accounts)"

# --- two nodes --------------------------------------------------------------------------------------------
start_node() {  # name port instance
  BIND="127.0.0.1:$2" WEB_CONCURRENCY=2 INSTANCE_PATH="$3" \
    $GUNICORN -c gunicorn.conf.py --control-socket "$WORK/node-$1.ctl" 'app:create_app()' >"$WORK/node-$1.log" 2>&1 &
  echo $!
}
PID_A=$(start_node a "$PORT_A" "$WORK/instance-a")
PID_B=$(start_node b "$PORT_B" "$WORK/instance-b")
for url in "$A" "$B"; do
  ok=""
  for _ in $(seq 1 60); do
    if curl -fsS --max-time 2 "$url/api/v1/health" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [ -n "$ok" ] || fail "$url did not come up"
done
echo "== node A pid $PID_A on $A, node B pid $PID_B on $B (2 gthread workers each)"

for url in "$A" "$B"; do
  health=$(curl -fsS --max-time 5 "$url/api/v1/health")
  portal=$(curl -s --max-time 10 -o "$WORK/portal.html" -w "%{http_code}" "$url/portal/")
  grep -q "/portal/announcements" "$WORK/portal.html" || fail "$url/portal/ is not the portal"
  echo "   $url  /api/v1/health -> $health   /portal/ -> HTTP $portal ($(wc -c <"$WORK/portal.html") bytes)"
  [ "${portal%% *}" = 200 ] || fail "$url/portal/ answered $portal"
done

# --- cross-node live event --------------------------------------------------------------------------------
csrf_from() { grep -o 'name="csrf_token" type="hidden" value="[^"]*"' "$1" | head -1 | sed 's/.*value="//; s/"$//'; }
sign_in() {  # base jar username password  (password step; prints the HTTP status)
  curl -s --max-time 10 -c "$2" -b "$2" -o "$WORK/login.html" "$1/auth/login"
  local token
  token=$(csrf_from "$WORK/login.html")
  curl -s --max-time 10 -c "$2" -b "$2" -o /dev/null -w '%{http_code}' \
    --data-urlencode "csrf_token=$token" --data-urlencode "username=$3" --data-urlencode "password=$4" "$1/auth/login"
}
JAR_B="$WORK/regulator-on-b.txt"
JAR_A="$WORK/bidder-on-a.txt"
[ "$(sign_in "$B" "$JAR_B" regulator "$REG_PW")" = 302 ] || fail "regulator password step on B"
curl -s --max-time 10 -c "$JAR_B" -b "$JAR_B" -o "$WORK/mfa.html" "$B/auth/mfa"
CODE=$(INSTANCE_PATH="$WORK/instance-cli" timeout 60 $FLASK demo totp regulator 2>/dev/null | tail -1)
status=$(curl -s --max-time 10 -c "$JAR_B" -b "$JAR_B" -o /dev/null -w '%{http_code}' \
  --data-urlencode "csrf_token=$(csrf_from "$WORK/mfa.html")" --data-urlencode "code=$CODE" "$B/auth/mfa")
[ "$status" = 302 ] || fail "regulator TOTP step on B answered $status"
echo "== regulator signed in on node B (password + TOTP); subscribing to $B/supervision/stream"

curl -sN --max-time 20 -b "$JAR_B" "$B/supervision/stream?seconds=8" >"$WORK/sse.txt" 2>/dev/null &
SSE_PID=$!
for _ in $(seq 1 40); do grep -q '^retry:' "$WORK/sse.txt" 2>/dev/null && break; sleep 0.25; done
grep -q '^retry:' "$WORK/sse.txt" || fail "the stream on B did not open"
sleep 1  # the stream subscribes before its first read; give it a moment

[ "$(sign_in "$A" "$JAR_A" bidder1 "$BID_PW")" = 302 ] || fail "bidder1 sign-in on A"
echo "== bidder1 signed in on node A (commits the audit leaf auth:login:success)"
wait "$SSE_PID" || true
SSE_PID=""
events=$(grep -c '^id: ' "$WORK/sse.txt" || true)
echo "   node B's subscriber received $events event(s):"
grep '^data: ' "$WORK/sse.txt" | cut -c1-200 | sed 's/^/     /'
grep '^data: ' "$WORK/sse.txt" | grep -q '"auth:login:success"' || fail "the event from node A never reached node B"
grep -q '^event: bye' "$WORK/sse.txt" && echo "   the stream ended by itself after 8 s (event: bye)"
echo "== cross-node live event: OK (committed on A, delivered on B through Redis)"

# --- the deadline surge across both nodes -----------------------------------------------------------------
SURGE=${SURGE:-1}
SURGE_BIDDERS=${SURGE_BIDDERS:-40}
SURGE_MIB=${SURGE_MIB:-2}
SURGE_WINDOW=${SURGE_WINDOW:-10}
SURGE_RESUMABLE=${SURGE_RESUMABLE:-0.3}      # share of resumable uploads (each crosses from one node to the other)
SURGE_DROP_PAUSE=${SURGE_DROP_PAUSE:-0}     # resume on the other node at once, while the first may still write
SURGE_CHUNK_KIB=${SURGE_CHUNK_KIB:-$((SURGE_MIB * 1024 / 4 < 4096 ? SURGE_MIB * 1024 / 4 : 4096))}  # ≥ 4 chunks
SURGE_ABORT=${SURGE_ABORT:-900}
if [ "$SURGE" != 0 ]; then
  echo "== deadline surge across both nodes: $SURGE_BIDDERS bidders × $SURGE_MIB MiB over ${SURGE_WINDOW}s, \
${SURGE_RESUMABLE} of them resumable (chunks of $SURGE_CHUNK_KIB KiB)"
  for n in a b; do grep -c Traceback "$WORK/node-$n.log" >"$WORK/node-$n.tb0" || true; done
  surge_start=$SECONDS
  # the bench shares DATABASE_URL, BLOB_DIR and the secrets with the nodes (exported above)
  set +e
  timeout $((SURGE_ABORT + 60)) $PY bench/surge_bench.py --nodes "$A,$B" \
    --bidders "$SURGE_BIDDERS" --mib "$SURGE_MIB" --window "$SURGE_WINDOW" --chunk-kib "$SURGE_CHUNK_KIB" \
    --resumable "$SURGE_RESUMABLE" --drop-pause "$SURGE_DROP_PAUSE" --abort "$SURGE_ABORT" --json "$WORK/surge.json" 2>&1 | sed 's/^/   /'
  surge_rc=${PIPESTATUS[0]}
  set -e
  for n in a b; do
    before=$(cat "$WORK/node-$n.tb0")
    after=$(grep -c Traceback "$WORK/node-$n.log" || true)
    echo "   node $(echo $n | tr ab AB) log: $((after - before)) traceback(s) during the surge"
  done
  [ "$surge_rc" = 0 ] || fail "the surge across both nodes (exit $surge_rc): see the FAIL lines above"
  echo "== deadline surge across both nodes: OK ($((SECONDS - surge_start)) s, every invariant held)"
fi

# --- stop -------------------------------------------------------------------------------------------------
stop_node "$PID_A"
stop_node "$PID_B"
echo "== stopped both nodes"
PID_A=""
PID_B=""
