"""Fail when config/ reads an environment variable that .env.example does not list.

Variables count as listed when a line of .env.example assigns them, commented out or not
(``NAME=value`` or ``# NAME=value``). Secrets read through ``env_secret`` must also list ``NAME_FILE``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r"""\benv_(str|bool|int|list|secret)\(\s*["']([A-Z0-9_]+)["']""")
ENVIRON = re.compile(r"""os\.environ(?:\.get|\.setdefault)?[\(\[]\s*["']([A-Z0-9_]+)["']""")
LISTED = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# Read by Python or Django themselves, not settings a deployment chooses.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}
EXTRA = {"XINQIAO_DEMO_PASSWORD"}


def variables_read() -> set[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "config").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for helper, name in READ.findall(text):
            names.add(name)
            if helper == "secret":
                names.add(f"{name}_FILE")
        names.update(ENVIRON.findall(text))
    return (names - NOT_SETTINGS) | EXTRA


def main() -> int:
    listed = set(LISTED.findall((ROOT / ".env.example").read_text(encoding="utf-8")))
    missing = sorted(variables_read() - listed)
    if missing:
        sys.stderr.write(".env.example does not list: " + ", ".join(missing) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
