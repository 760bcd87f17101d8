"""Train the sentiment model from the project's labelled data and write the versioned artefact.

``manage.py listening_train [--output PATH.npz] [--seed N] [--data-dir DIR] [--model-version NAME]``: reads the training
files listed in ``xinqiao.listening.pipeline.sentiment.TRAINING_FILES`` from ``--data-dir`` (default: the project's
``xinqiao/listening/data/sentiment/``), evaluates on the dev files found there (binary), writes ``PATH.npz`` and
``PATH.json`` (metadata: version, files with sha256 and row counts, hyper-parameters, trained_at, dev metrics)
atomically, and prints the metrics as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from xinqiao.listening.pipeline import sentiment


class Command(BaseCommand):
    help = "Train the three-class sentiment model and write the artefact (.npz + .json metadata)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=sentiment.DEFAULT_ARTEFACT, help="artefact path (.npz)")
        parser.add_argument("--seed", type=int, default=20260601)
        parser.add_argument("--data-dir", type=Path, default=sentiment.DATA_DIR)
        parser.add_argument("--model-version", dest="model_version", default=sentiment.MODEL_VERSION)
        parser.add_argument("--bits", type=int, default=None, help="hash space bits (default from the model)")

    def handle(self, *args, **options) -> None:
        data_dir: Path = options["data_dir"]
        output: Path = options["output"]
        if output.suffix != ".npz":
            raise CommandError(_("The output file must end in .npz"))
        sources = [(data_dir / name, domain) for name, domain in sentiment.TRAINING_FILES]
        missing = [str(path) for path, _domain in sources if not path.is_file()]
        if missing:
            raise CommandError(_("Training file(s) not found: %(files)s") % {"files": ", ".join(missing)})
        dev_files = [data_dir / name for name in sentiment.DEV_FILES if (data_dir / name).is_file()]
        hyperparameters = {}
        if options["bits"] is not None:
            if not 10 <= options["bits"] <= 24:
                raise CommandError(_("--bits must be between 10 and 24"))
            hyperparameters["bits"] = options["bits"]
        try:
            model = sentiment.train_model(
                sources, seed=options["seed"], hyperparameters=hyperparameters, dev_files=dev_files,
                version=options["model_version"],
            )  # fmt: skip
        except sentiment.DataError as error:
            raise CommandError(_("Cannot train: %(reason)s") % {"reason": error}) from error
        model.save(output)
        summary = {
            "version": model.version,
            "output": str(output),
            "training_seconds": model.metadata["training_seconds"],
            "dev_metrics": model.metadata["dev_metrics"],
        }
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
