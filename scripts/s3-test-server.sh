#!/usr/bin/env bash
# A real S3-compatible server on 127.0.0.1 for Stowage's S3 tests and benchmark:
# OpenStack Swift (Debian's python3-swift) with its s3api and tempauth
# middleware, one replica, no root needed after `install`.
#
#   bash scripts/s3-test-server.sh install   # apt-get install python3-swift memcached (root)
#   bash scripts/s3-test-server.sh start     # setup if needed, then start; idempotent
#   bash scripts/s3-test-server.sh check     # a signed PUT/GET/DELETE round trip
#   bash scripts/s3-test-server.sh stop      # stops exactly the processes `start` began
#   bash scripts/s3-test-server.sh status    # exit 0 when the endpoint answers
#
# Endpoint http://127.0.0.1:$S3_PORT (18080), path-style, region us-east-1,
# access key `test:tester`, secret `testing`. Data lives in $SWIFT_BASE
# (/tmp/stowage-s3); `rm -rf` it to start over. Ports: S3_PORT OBJ_PORT
# CONT_PORT ACCT_PORT MC_PORT. Notes on Swift's S3 gaps:
# ../shared/reference/s3-test-server-swift.md.
set -euo pipefail

SWIFT_BASE=${SWIFT_BASE:-/tmp/stowage-s3}
S3_PORT=${S3_PORT:-18080}
OBJ_PORT=${OBJ_PORT:-16010}
CONT_PORT=${CONT_PORT:-16011}
ACCT_PORT=${ACCT_PORT:-16012}
MC_PORT=${MC_PORT:-16013}
# Debian's interpreter: a python3 earlier on PATH (pyenv) has no swift module.
PYTHON=/usr/bin/python3
ETC=$SWIFT_BASE/etc
RUN=$SWIFT_BASE/run
LOG=$SWIFT_BASE/log
SRV=$SWIFT_BASE/srv

say() { echo "s3-test-server: $*" >&2; }
die() {
  say "$*"
  exit 1
}

have_swift() { [ -x "$PYTHON" ] && "$PYTHON" -c 'import swift' 2>/dev/null; }

cmd_install() {
  if have_swift && command -v memcached >/dev/null; then
    say "python3-swift and memcached are installed"
    return
  fi
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get): run 'sudo bash $0 install'"
  command -v apt-get >/dev/null || die "install needs apt-get (Debian/Ubuntu); install OpenStack Swift 2.30+ and memcached another way"
  say "installing python3-swift and memcached from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-swift memcached curl >/dev/null
  have_swift || die "python3-swift installed but '$PYTHON -c \"import swift\"' fails"
}

cmd_setup() {
  have_swift || die "OpenStack Swift is not installed: run 'sudo bash $0 install' (Debian's python3-swift)"
  mkdir -p "$ETC" "$RUN" "$LOG" "$SRV/d1"
  cat >"$ETC/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = stowage-test
swift_hash_path_prefix = stowage-test

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
max_meta_value_length = 2048
EOF
  local common="bind_ip = 127.0.0.1
workers = 0
mount_check = false
swift_dir = $ETC
devices = $SRV
user = $(id -un)
log_facility = LOG_LOCAL0"
  local kind port
  for kind in object container account; do
    case $kind in
      object) port=$OBJ_PORT ;;
      container) port=$CONT_PORT ;;
      account) port=$ACCT_PORT ;;
    esac
    cat >"$ETC/$kind-server.conf" <<EOF
[DEFAULT]
bind_port = $port
$common

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
EOF
    # Listings must never lag behind writes in a test.
    if [ $kind = object ]; then printf 'container_update_timeout = 10\n' >>"$ETC/$kind-server.conf"; fi
  done
  cat >"$ETC/proxy-server.conf" <<EOF
[DEFAULT]
bind_port = $S3_PORT
$common

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
  if [ ! -f "$ETC/object.ring.gz" ]; then
    "$PYTHON" - "$ETC" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" <<'EOF'
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], dict(zip(("object", "container", "account"), map(int, sys.argv[2:5])))
for kind, port in ports.items():
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": "d1", "weight": 100, "meta": ""})
    builder.rebalance()
    builder.save(f"{etc}/{kind}.builder")
    builder.get_ring().save(f"{etc}/{kind}.ring.gz")
EOF
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

healthy() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$S3_PORT/healthcheck" 2>/dev/null &&
    port_open "$OBJ_PORT" && port_open "$CONT_PORT" && port_open "$ACCT_PORT"
}

running() {
  local f
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  return 1
}

start_server() { # name conf section
  "$PYTHON" -c '
import sys
from swift.common.utils import set_swift_dir
set_swift_dir(sys.argv[3])  # before swift.common.wsgi reads /etc/swift
from swift.common.wsgi import run_wsgi
kwargs = {"verbose": True}
if sys.argv[2] == "object-server":
    from swift.obj import server
    kwargs["global_conf_callback"] = server.global_conf_callback
sys.exit(run_wsgi(sys.argv[1], sys.argv[2], **kwargs))
' "$ETC/$1.conf" "$1" "$ETC" >"$LOG/$1.log" 2>&1 &
  echo $! >"$RUN/$1.pid"
}

cmd_start() {
  if healthy && running; then
    say "already up at http://127.0.0.1:$S3_PORT"
    return
  fi
  if ! have_swift && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then cmd_install; fi
  cmd_setup
  running && cmd_stop
  local port
  for port in "$S3_PORT" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" "$MC_PORT"; do
    port_open "$port" && die "port $port on 127.0.0.1 is taken; set S3_PORT/OBJ_PORT/CONT_PORT/ACCT_PORT/MC_PORT"
  done
  if command -v memcached >/dev/null; then
    # Without memcached tempauth still works, but slower and with an error logged per request.
    memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -u "$(id -un)" >"$LOG/memcached.log" 2>&1 &
    echo $! >"$RUN/memcached.pid"
  fi
  start_server account-server
  start_server container-server
  start_server object-server
  start_server proxy-server
  local i f
  for i in $(seq 1 100); do
    if healthy; then
      say "swift s3 endpoint up at http://127.0.0.1:$S3_PORT (data in $SWIFT_BASE)"
      return
    fi
    for f in "$RUN"/*-server.pid; do
      if ! kill -0 "$(cat "$f")" 2>/dev/null; then
        local name
        name=$(basename "$f" .pid)
        say "$name exited during start; its log:"
        tail -n 30 "$LOG/$name.log" >&2 || true
        cmd_stop
        exit 1
      fi
    done
    sleep 0.2
  done
  say "not healthy after 20 s; proxy log:"
  tail -n 30 "$LOG/proxy-server.log" >&2 || true
  cmd_stop
  exit 1
}

cmd_stop() {
  local f pid
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # Give the servers a moment to release their ports.
  for _ in $(seq 1 50); do
    port_open "$S3_PORT" || break
    sleep 0.1
  done
}

cmd_check() {
  "$PYTHON" - "$S3_PORT" <<'EOF'
import datetime, hashlib, hmac, sys, urllib.request
port = sys.argv[1]
def sign(method, path, body=b"", headers=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    amzdate, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    host = f"127.0.0.1:{port}"
    canonical = f"{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amzdate}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}"
    scope = f"{date}/us-east-1/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amzdate}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = b"AWS4testing"
    for part in (date, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential=test:tester/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
    request = urllib.request.Request(f"http://{host}{path}", data=body or None, method=method, headers={
        "x-amz-date": amzdate, "x-amz-content-sha256": payload, "authorization": auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()
sign("PUT", "/stowage-check")
sign("PUT", "/stowage-check/hello", b"hello")
assert sign("GET", "/stowage-check/hello") == b"hello"
sign("DELETE", "/stowage-check/hello")
sign("DELETE", "/stowage-check")
print("s3-test-server: check passed (signed PUT, GET, DELETE)")
EOF
}

cmd_status() {
  if healthy; then
    say "up at http://127.0.0.1:$S3_PORT"
  else
    say "not answering at http://127.0.0.1:$S3_PORT"
    return 1
  fi
}

case ${1:-} in
  install) cmd_install ;;
  setup) cmd_setup ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  check) cmd_check ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|setup|start|stop|check|status" >&2
    exit 2
    ;;
esac
