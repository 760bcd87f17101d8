#!/usr/bin/env bash
# `make setup`: system packages, .venv (Python 3.12 + requirements-dev.txt), node_modules (npm ci), .mo files.
#
# Every step is skipped when already done: the venv and node_modules carry a stamp holding a hash of
# the files they were installed from, so a second run takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

mkdir -p var
# One setup at a time in this tree (several people or `make` calls may start one together).
exec 9>var/.setup.lock
flock 9

bash scripts/system-packages.sh

# --- Python --------------------------------------------------------------------------------------
venv_ok() {
    [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null
}
if ! venv_ok; then
    python="$(bash scripts/find-python.sh)"
    if [[ -e .venv ]]; then
        echo "python: .venv is broken or not Python 3.12; recreating it"
        rm -rf .venv
    fi
    echo "python: creating .venv with $python"
    "$python" -m venv .venv
fi
python_stamp=.venv/.xinqiao-requirements.sha256
python_hash="$(cat requirements*.txt | sha256sum | cut -d' ' -f1) $(.venv/bin/python -VV | tr -d '\n' | sha256sum | cut -c1-16)"
if [[ "$(cat "$python_stamp" 2>/dev/null)" != "$python_hash" ]]; then
    echo "python: pip install -r requirements-dev.txt"
    .venv/bin/python -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
        -r requirements-dev.txt
    echo "$python_hash" >"$python_stamp"
else
    echo "python: .venv up to date"
fi

# --- front-end libraries (served from node_modules through STATICFILES_DIRS) ---------------------
node_stamp=node_modules/.xinqiao-npm.sha256
node_hash="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$node_stamp" 2>/dev/null)" != "$node_hash" ]]; then
    echo "npm: npm ci"
    npm ci --no-audit --no-fund --loglevel=error </dev/null
    echo "$node_hash" >"$node_stamp"
else
    echo "npm: node_modules up to date"
fi

# --- translations: compile our own .po files only (never the venv's) -----------------------------
stale=0
while IFS= read -r po; do
    mo="${po%.po}.mo"
    if [[ ! -f "$mo" || "$po" -nt "$mo" ]]; then
        stale=1
    fi
done < <(find locale xinqiao -name '*.po' -path '*/LC_MESSAGES/*' 2>/dev/null)
if [[ $stale -eq 1 ]]; then
    echo "i18n: compilemessages"
    .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=node_modules --ignore=.git --ignore=var --verbosity 0
else
    echo "i18n: compiled messages up to date"
fi

echo "setup: done in $((SECONDS - started))s"
