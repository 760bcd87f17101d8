"""``listening_eval`` and ``listening_train``: output, errors, a small training run, determinism."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from xinqiao.listening.pipeline import sentiment

ROWS_THREE_CLASS = [
    ("急诊等了三个小时没人管，护士态度恶劣，太差了", 0),
    ("多收了我两百块钱还不承认，垃圾医院", 0),
    ("感谢王医生，手术非常成功，医生护士都很细心", 1),
    ("医生很耐心很专业，非常满意，给医院点赞", 1),
    ("医院门诊下周一起调整开诊时间，请患者合理安排", 2),
    ("请问周末可以做胃镜吗？需要提前预约吗？", 2),
]


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_eval(*args) -> dict:
    out = io.StringIO()
    call_command("listening_eval", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_eval_three_classes(tmp_path):
    data = write_csv(tmp_path / "hospital.csv", ROWS_THREE_CLASS)
    result = run_eval("--data", str(data))
    assert list(result) == ["n", "accuracy", "macro_f1", "docs_per_s"]
    assert result["n"] == 6
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == 1.0


def test_eval_binary_compares_positive_with_negative(tmp_path):
    rows = [row for row in ROWS_THREE_CLASS if row[1] != 2]
    # a wrong label on purpose: 1 of 5 rows is then misclassified
    rows.append(("医生开了一堆没用的检查，坑钱", 1))
    data = write_csv(tmp_path / "binary.csv", rows)
    result = run_eval("--data", str(data), "--binary")
    assert result["n"] == 5
    assert result["accuracy"] == 0.8
    # class 0: P=2/3 R=1 → 0.8; class 1: P=1 R=2/3 → 0.8
    assert result["macro_f1"] == 0.8


def test_eval_binary_rejects_neutral_labels(tmp_path):
    data = write_csv(tmp_path / "three.csv", ROWS_THREE_CLASS)
    with pytest.raises(CommandError, match=r"line 6: label '2' is not one of 0, 1"):
        call_command("listening_eval", "--data", str(data), "--binary", stdout=io.StringIO())


def test_eval_errors(tmp_path):
    with pytest.raises(CommandError, match="Data file not found"):
        call_command("listening_eval", "--data", str(tmp_path / "nope.csv"), stdout=io.StringIO())
    columns = write_csv(tmp_path / "columns.csv", [("好", 1)], header=("review", "label"))
    with pytest.raises(CommandError, match=r"missing column\(s\) text"):
        call_command("listening_eval", "--data", str(columns), stdout=io.StringIO())
    labels = write_csv(tmp_path / "labels.csv", [("好", 1), ("差", 5)])
    with pytest.raises(CommandError, match="line 3: label '5' is not one of 0, 1, 2"):
        call_command("listening_eval", "--data", str(labels), stdout=io.StringIO())
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"text,label\n\xff\xfe\xfa,1\n")
    with pytest.raises(CommandError, match="as a UTF-8 CSV"):
        call_command("listening_eval", "--data", str(binary), stdout=io.StringIO())


def tiny_data_dir(root: Path) -> Path:
    """Small copies of the three training files (20 + 20 + 30 rows) and one dev file."""
    root.mkdir()
    shopping = [("质量很好，很满意，下次还买", 1), ("太差了，用了一天就坏了，退货", 0)] * 10
    waimai = [("送得很快，味道很好吃", 1), ("等了两个小时，饭都凉了，难吃", 0)] * 10
    hospital = [(text, label) for text, label in ROWS_THREE_CLASS] * 5
    write_csv(root / "online_shopping_10_cats_train.csv", shopping)
    write_csv(root / "waimai_10k_train.csv", waimai)
    write_csv(root / "hospital_domain.csv", hospital)
    write_csv(root / "waimai_10k_dev.csv", [("味道很好吃", 1), ("难吃，饭都凉了", 0)])
    return root


def run_train(data_dir: Path, output: Path, seed: int) -> dict:
    out = io.StringIO()
    call_command("listening_train", "--data-dir", str(data_dir), "--output", str(output), "--seed", str(seed),
                 "--bits", "14", "--model-version", "sentiment-test", stdout=out)  # fmt: skip
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_train_writes_a_loadable_artefact_with_provenance(tmp_path):
    data_dir = tiny_data_dir(tmp_path / "data")
    output = tmp_path / "out" / "model.npz"
    summary = run_train(data_dir, output, seed=7)
    assert summary["version"] == "sentiment-test"
    assert summary["dev_metrics"]["waimai_10k_dev.csv"]["n"] == 2
    assert sorted(path.name for path in output.parent.iterdir()) == ["model.json", "model.npz"]
    model = sentiment.SentimentModel.load(output)
    assert model.version == "sentiment-test"
    assert model.bits == 14
    assert model.domains == ("shopping", "waimai", "hospital")
    files = model.metadata["training_files"]
    assert [(entry["file"], entry["rows"]) for entry in files] == [
        ("online_shopping_10_cats_train.csv", 20),
        ("waimai_10k_train.csv", 20),
        ("hospital_domain.csv", 30),
    ]
    assert files[2]["sha256"] == sentiment.file_digest(data_dir / "hospital_domain.csv")
    assert files[2]["labels"] == {"0": 10, "1": 10, "2": 10}
    assert model.metadata["seed"] == 7
    labels = [max(zip(row, sentiment.LABELS, strict=True))[1] for row in model.predict_proba(
        ["送得很快，味道很好吃", "医院门诊下周一起调整开诊时间，请患者合理安排"])]  # fmt: skip
    assert labels == ["positive", "neutral"]


def test_train_is_deterministic_for_a_seed(tmp_path):
    data_dir = tiny_data_dir(tmp_path / "data")
    run_train(data_dir, tmp_path / "a.npz", seed=11)
    run_train(data_dir, tmp_path / "b.npz", seed=11)
    first = sentiment.SentimentModel.load(tmp_path / "a.npz")
    second = sentiment.SentimentModel.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(first.weights, second.weights)
    np.testing.assert_array_equal(first.intercepts, second.intercepts)


def test_train_errors(tmp_path):
    with pytest.raises(CommandError, match="Training file\\(s\\) not found"):
        call_command("listening_train", "--data-dir", str(tmp_path), "--output", str(tmp_path / "m.npz"),
                     stdout=io.StringIO())  # fmt: skip
    with pytest.raises(CommandError, match="must end in .npz"):
        call_command("listening_train", "--output", str(tmp_path / "m.bin"), stdout=io.StringIO())
    data_dir = tiny_data_dir(tmp_path / "data")
    write_csv(data_dir / "waimai_10k_train.csv", [("好吃", 9)])
    with pytest.raises(CommandError, match="label '9'"):
        call_command("listening_train", "--data-dir", str(data_dir), "--output", str(tmp_path / "m.npz"),
                     "--bits", "14", stdout=io.StringIO())  # fmt: skip
    assert not (tmp_path / "m.npz").exists()
