"""The listening pipeline: pure functions over batches of mentions (no ORM, no I/O).

Stages, in order (docs/listening-pipeline.md): ``normalise`` → ``entities`` → ``dedup`` → ``sentiment`` →
``topics`` → ``severity``; ``run.run_batch`` chains them. Services load and persist; this package only computes,
so the same code runs in the worker, in ``manage.py listening_process`` and in a distributed engine.
"""
