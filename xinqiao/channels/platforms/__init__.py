"""Platform clients (HTTP only) and their local sandboxes, one sub-package per platform.

Each ``<name>/client.py`` talks to the real platform or to ``<name>/sandbox.py``, a fake server on 127.0.0.1
that follows ``/work/shared/platforms/<name>.md``. Shared pieces (errors, token stores) live in ``base.py``.
"""
