"""Reads of public-opinion monitoring, one module per page family (mentions, dashboard, cases)."""
