"""Pytest plugin loaded with ``-p config.pytest_env`` before Django is configured.

It selects the test profile of config/settings.py (fast hasher, immediate tasks, locmem mail)
before pytest-django imports the settings.
"""

from __future__ import annotations

import os

os.environ["XINQIAO_ENV"] = "test"
os.environ.setdefault("XINQIAO_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))
