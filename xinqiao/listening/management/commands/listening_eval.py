"""Evaluate the shipped sentiment model on a labelled CSV and print one JSON line.

``manage.py listening_eval --data FILE.csv [--binary]``: columns ``text,label`` (0 negative, 1 positive, 2 neutral;
with ``--binary`` only 0/1, and the prediction is P(positive) > P(negative)). Prints
``{"n": …, "accuracy": …, "macro_f1": …, "docs_per_s": …}``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xinqiao.listening.pipeline import sentiment


class Command(BaseCommand):
    help = "Evaluate the sentiment model on a text,label CSV; prints n, accuracy, macro_f1 and docs_per_s as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, type=Path, help="CSV with columns text,label (UTF-8)")
        parser.add_argument(
            "--binary", action="store_true", help="labels 0/1 only; compare P(positive) with P(negative)"
        )
        parser.add_argument("--artefact", type=Path, default=None, help="model .npz (default: the shipped one)")

    def handle(self, *args, **options) -> None:
        path: Path = options["data"]
        if not path.is_file():
            raise CommandError(_("Data file not found: %(path)s") % {"path": path})
        artefact = options["artefact"]
        if artefact is not None and not Path(artefact).is_file():
            raise CommandError(_("Model file not found: %(path)s") % {"path": artefact})
        model = sentiment.SentimentModel.load(artefact) if artefact is not None else sentiment.get_model()
        try:
            result = sentiment.evaluate(model, path, binary=options["binary"])
        except sentiment.DataError as error:
            raise CommandError(_("Cannot evaluate: %(reason)s") % {"reason": error}) from error
        except (UnicodeDecodeError, ValueError) as error:
            raise CommandError(_("Cannot read %(path)s as a UTF-8 CSV: %(reason)s") % {"path": path.name,
                               "reason": error}) from error  # fmt: skip
        self.stdout.write(json.dumps(result, ensure_ascii=False))
