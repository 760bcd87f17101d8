#!/usr/bin/env bash
# `make run` / `make demo`: migrate (and seed the demo hospitals), then serve on 127.0.0.1:
# `runserver`, and in the background one `manage.py db_worker`, the scheduler (`manage.py run_scheduler`)
# and the platform sandboxes (`manage.py run_sandboxes`: loopback fakes of the platform APIs, so
# publishing works with no outside network). Ctrl-C (or SIGTERM) stops them all.
#
#   bash scripts/serve.sh [--demo]
#
# Environment: PORT (default 8000), SANDBOX_PORT (default 8701, the WeChat OA sandbox), ROBOT_SANDBOX_PORT
# (default 8702, the WeCom group robot sandbox), XINQIAO_DEMO_PASSWORD (default
# xinqiao-demo-2026), DEMO_SEED (default 20261123), DEMO_PATIENTS (optional). A .env file in the
# project root, if present, is loaded first (see .env.example).
set -euo pipefail
cd "$(dirname "$0")/.."

demo=0
[[ "${1:-}" == "--demo" ]] && demo=1

if [[ -f .env ]]; then
    echo "serve: loading .env"
    set -a
    # shellcheck disable=SC1091
    source .env
    set +a
fi

export XINQIAO_DEMO_PASSWORD="${XINQIAO_DEMO_PASSWORD:-xinqiao-demo-2026}"
host=127.0.0.1
port="${PORT:-8000}"
sandbox_port="${SANDBOX_PORT:-8701}"
robot_port="${ROBOT_SANDBOX_PORT:-${XINQIAO_WECOM_ROBOT_SANDBOX_PORT:-8702}}"
# The demo's alert route posts to the local WeCom robot sandbox on this port (read by seed_listening_demo).
export XINQIAO_WECOM_ROBOT_SANDBOX_PORT="$robot_port"
# The demo's platform accounts point at the local sandboxes (the content demo seed reads this setting).
export XINQIAO_WECHAT_OA_SANDBOX_URL="${XINQIAO_WECHAT_OA_SANDBOX_URL:-http://$host:$sandbox_port}"
python=.venv/bin/python
mkdir -p var

port_free() {
    "$python" -c 'import socket, sys
s = socket.socket()
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)' "$host" "$1"
}
if ! port_free "$port"; then
    echo "error: $host:$port is already in use; stop what uses it or choose another port: PORT=8001 make ${MAKE_TARGET:-run}" >&2
    exit 1
fi
run_sandboxes=1
if ! port_free "$sandbox_port"; then
    echo "warning: $host:$sandbox_port is in use, the platform sandboxes do not start (SANDBOX_PORT=8711 picks another)" >&2
    run_sandboxes=0
fi
if [[ $run_sandboxes -eq 1 ]] && ! port_free "$robot_port"; then
    echo "warning: $host:$robot_port is in use, the platform sandboxes do not start (ROBOT_SANDBOX_PORT=8712 picks another)" >&2
    run_sandboxes=0
fi

"$python" manage.py migrate --noinput
if [[ $demo -eq 1 ]]; then
    seed_args=(--seed "${DEMO_SEED:-20261123}")
    [[ -n "${DEMO_PATIENTS:-}" ]] && seed_args+=(--patients "$DEMO_PATIENTS")
    # seed_demo is idempotent: on an already seeded database it changes nothing. After the hospitals, people and
    # patients it runs the domain demos (each idempotent too): the account matrix and content items in every
    # state (the WeChat account publishes to the sandbox at $XINQIAO_WECHAT_OA_SANDBOX_URL), a year of platform
    # metrics, costs and attributed touches (analytics dashboards, reports), and a month of public mentions with
    # one brewing crisis through the real pipeline (alerts to the robot sandbox on $robot_port).
    "$python" manage.py seed_demo "${seed_args[@]}"
fi

background_pids=()
server_pid=""
stop_group() {
    # Each child leads its own process group (setsid), so this also stops autoreload children.
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill -TERM -- "-$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 -- "-$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() {
    trap - EXIT INT TERM
    stop_group "$server_pid"
    for pid in "${background_pids[@]}"; do
        stop_group "$pid"
    done
    wait 2>/dev/null || true
    echo "serve: server, worker, scheduler and sandboxes stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

start_background() {
    setsid "$@" &
    background_pids+=("$!")
}
start_background "$python" manage.py db_worker --queue-name '*'
start_background "$python" manage.py run_scheduler
if [[ $run_sandboxes -eq 1 ]]; then
    start_background "$python" manage.py run_sandboxes --wechat-oa-port "$sandbox_port" --wecom-robot-port "$robot_port"
fi

if [[ $demo -eq 1 ]]; then
    cat <<BANNER

  XinQiao demo: http://$host:$port/
  Password for every demo login: $XINQIAO_DEMO_PASSWORD

    admin                 system administrator
    brand                 brand department editor
    brand_lead            brand department lead (final approval)
    reviewer_cardiology   cardiology department reviewer
    medical_affairs       medical affairs reviewer
    service               patient service
    health_manager        health manager
    leadership            hospital leadership (read-only)
    admin_mch             administrator of the second demo hospital (maternal and child health)

  Platform sandbox (WeChat Official Account): $XINQIAO_WECHAT_OA_SANDBOX_URL
  WeCom group robot sandbox (alerts, reports): http://$host:$robot_port/
  Ctrl-C stops the server, the worker, the scheduler and the sandboxes.

BANNER
else
    printf '\n  XinQiao: http://%s:%s/  (Ctrl-C stops the server and the background processes)\n\n' "$host" "$port"
fi

setsid "$python" manage.py runserver "$host:$port" &
server_pid=$!
# `wait` returns early when a trapped signal arrives, so Ctrl-C/SIGTERM reach cleanup at once.
wait "$server_pid"
