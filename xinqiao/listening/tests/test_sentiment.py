"""The shipped sentiment model: loading, hospital examples (incl. neutral), features and metrics helpers."""

from __future__ import annotations

import numpy as np
import pytest

from xinqiao.listening.pipeline import sentiment

NEGATIVE = [
    "在急诊等了四个小时都没人管，护士还对我们发脾气，太差劲了",
    "收费处多收了我三百块钱，去问还被骂了一顿，垃圾医院",
    "医生看都不看就开了一堆检查，花了两千多，什么都没查出来，坑人",
]
POSITIVE = [
    "感谢心内科的李医生，耐心细致，我爸的手术非常成功，谢谢你们",
    "护士们都特别温柔，住院这几天照顾得很周到，给医院点赞",
    "医生很专业也很和蔼，解释得清清楚楚，非常满意",
]
NEUTRAL = [
    "医院儿科门诊下周一起调整为上午八点开诊，请家长合理安排时间",
    "请问做核磁共振需要提前预约吗？大概多少钱？",
    "医院将于本周六在门诊大厅举办糖尿病义诊和健康讲座",
]


def test_shipped_artefact_loads_once_with_its_version():
    model = sentiment.get_model()
    assert sentiment.get_model() is model
    assert model.version == sentiment.MODEL_VERSION == "sentiment-v1"
    assert model.domains == ("shopping", "waimai", "hospital")
    assert model.weights.shape == (1 << model.bits, 2 * len(model.domains) + 2)
    assert [entry["file"] for entry in model.metadata["training_files"]] == [
        "online_shopping_10_cats_train.csv",
        "waimai_10k_train.csv",
        "hospital_domain.csv",
    ]


def test_predict_proba_shape_and_rows_sum_to_one():
    probabilities = sentiment.predict_proba(NEGATIVE + POSITIVE + NEUTRAL + [""])
    assert probabilities.shape == (10, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(10), atol=1e-9)
    assert sentiment.predict_proba([]).shape == (0, 3)


@pytest.mark.parametrize(("texts", "label"), [(NEGATIVE, "negative"), (POSITIVE, "positive"), (NEUTRAL, "neutral")])
def test_classifies_hand_written_hospital_posts(texts, label):
    results = sentiment.classify(texts)
    assert [result.label for result in results] == [label] * len(texts)
    for result in results:
        assert result.negative + result.neutral + result.positive == pytest.approx(1.0)
        assert max(result.negative, result.neutral, result.positive) == getattr(result, label)


def test_traditional_and_full_width_text_scores_like_its_normal_form():
    raw = ["護士態度很差，ＡＢＣ太過分了！", "醫生很專業，謝謝！"]
    normal = ["护士态度很差,abc太过分了!", "医生很专业,谢谢!"]
    np.testing.assert_allclose(sentiment.predict_proba(raw), sentiment.predict_proba(normal), rtol=1e-6)
    assert sentiment.normalise("醫院ＡＢＣ　１２３！") == "医院abc 123!"


def test_batch_scores_equal_one_by_one_scores():
    texts = NEGATIVE + POSITIVE + NEUTRAL
    together = sentiment.predict_proba(texts)
    alone = np.vstack([sentiment.predict_proba([text]) for text in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-6)


def test_ngram_occurrences_counts_every_gram_inside_each_text_only():
    indptr, indices = sentiment.ngram_occurrences(["abc", "", "de", "f"], bits=16)
    # "abc": 3 unigrams + 2 bigrams + 1 trigram; "": none; "de": 2 + 1; "f": 1 (no gram crosses texts)
    assert indptr.tolist() == [0, 6, 6, 9, 10]
    assert len(set(indices[:6].tolist())) == 6
    assert indices.min() >= 0
    assert indices.max() < 1 << 16


def test_binary_decision_ignores_neutral():
    model = sentiment.get_model()
    _gate, positive, _neutral = model.components(NEGATIVE + POSITIVE)
    probabilities = model.predict_proba(NEGATIVE + POSITIVE)
    expected = [False] * 3 + [True] * 3
    assert (probabilities[:, 2] > probabilities[:, 0]).tolist() == expected
    assert (positive > 0.5).tolist() == expected
    # P(positive) / (P(positive) + P(negative)) is the polarity model's probability, whatever P(neutral) is
    np.testing.assert_allclose(probabilities[:, 2] / (probabilities[:, 0] + probabilities[:, 2]), positive)


def test_macro_f1():
    labels = np.array([0, 0, 1, 1])
    assert sentiment.macro_f1(labels, np.array([0, 0, 1, 1]), (0, 1)) == 1.0
    # class 0: P=1/2, R=1/2 → F1 0.5; class 1: same
    assert sentiment.macro_f1(labels, np.array([0, 1, 0, 1]), (0, 1)) == 0.5
    assert sentiment.macro_f1(labels, np.array([0, 0, 0, 0]), (0, 1)) == pytest.approx((2 / 3 + 0) / 2)


def test_read_labelled_csv_errors(tmp_path):
    with pytest.raises(sentiment.DataError, match="file not found"):
        sentiment.read_labelled_csv(tmp_path / "missing.csv")
    bad_columns = tmp_path / "columns.csv"
    bad_columns.write_text("review,label\n好,1\n", encoding="utf-8")
    with pytest.raises(sentiment.DataError, match="missing column"):
        sentiment.read_labelled_csv(bad_columns)
    bad_label = tmp_path / "label.csv"
    bad_label.write_text("text,label\n好,1\n差,x\n", encoding="utf-8")
    with pytest.raises(sentiment.DataError, match="line 3: label 'x'"):
        sentiment.read_labelled_csv(bad_label)
    neutral = tmp_path / "neutral.csv"
    neutral.write_text("\ufefftext,label\n好,1\n一般,2\n", encoding="utf-8")
    assert sentiment.read_labelled_csv(neutral)[1].tolist() == [1, 2]
    with pytest.raises(sentiment.DataError, match="not one of 0, 1"):
        sentiment.read_labelled_csv(neutral, allowed_labels=(0, 1))
