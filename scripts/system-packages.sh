#!/usr/bin/env bash
# Install the Debian packages XinQiao needs, only those missing. Runs apt-get update once, first.
#
#   chromium             the Playwright browser suite drives /usr/bin/chromium
#   fonts-noto-cjk       CJK glyphs for the browser and for PDFs
#   gettext              msgfmt for `manage.py compilemessages`
#   postgresql           initdb/pg_ctl for the throwaway test server (bash scripts/pg-test.sh)
#   libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0   WeasyPrint (PDF reports)
#   poppler-utils        pdftotext/pdfinfo: the tests read generated PDFs back as text
#   npm                  only when no `npm` is on PATH (for `npm ci`)
set -euo pipefail

packages=(chromium fonts-noto-cjk gettext postgresql libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
    poppler-utils)

installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "warning: not a Debian system (no dpkg-query); install these yourself: ${packages[*]}" >&2
    exit 0
fi

missing=()
for package in "${packages[@]}"; do
    installed "$package" || missing+=("$package")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages: all present"
    exit 0
fi

as_root=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "error: missing Debian packages: ${missing[*]}" >&2
        echo "  You are not root and sudo is not installed. As root run:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
