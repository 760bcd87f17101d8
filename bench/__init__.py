"""XinQiao benchmarks; see run.py for the convention and docs/benchmarks.md for the numbers."""
