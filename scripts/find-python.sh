#!/usr/bin/env bash
# Print the absolute path of a working Python 3.12 interpreter, or fail with a clear message.
#
# Order: `python3.12` on PATH (only if it really runs: a pyenv shim without 3.12 selected fails),
# then pyenv's installed 3.12.x versions (newest first), then Debian's /usr/bin/python3.12.
set -euo pipefail

works() {
    # A candidate counts only if it runs, is 3.12 and can create virtual environments.
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

resolve() {
    # The real interpreter behind a shim or symlink.
    "$1" -c 'import sys; print(sys.executable)'
}

candidates=()
if command -v python3.12 >/dev/null 2>&1 && python3.12 --version >/dev/null 2>&1; then
    candidates+=("$(command -v python3.12)")
fi
pyenv_root=""
if command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root 2>/dev/null || true)"
fi
for root in "$pyenv_root" "${PYENV_ROOT:-}" "${HOME:-/root}/.pyenv"; do
    [[ -n "$root" && -d "$root/versions" ]] || continue
    # Newest patch release first (3.12.10 sorts after 3.12.9).
    while IFS= read -r candidate; do
        candidates+=("$candidate")
    done < <(ls -d "$root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r)
done
candidates+=(/usr/bin/python3.12 /usr/local/bin/python3.12)

for candidate in "${candidates[@]}"; do
    if [[ -x "$candidate" ]] && works "$candidate"; then
        resolve "$candidate"
        exit 0
    fi
done

cat >&2 <<'MESSAGE'
error: no working Python 3.12 found.
  Tried: `python3.12` on PATH, $(pyenv root)/versions/3.12*/bin/python3.12, /usr/bin/python3.12.
  Install one, e.g. `pyenv install 3.12`, then run `make setup` again.
MESSAGE
exit 1
