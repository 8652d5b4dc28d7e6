"""Product comparators: version numbers, word containment, price closeness, and their use in features."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from matcher import product
from matcher.classifier import PairClassifier
from matcher.features import compare
from matcher.prepare import prepare
from matcher.settings import ColumnSettings, Settings


def test_version_numbers_normalise_prefixes_and_decimals():
    norm = pd.Series(["the print shop 22 deluxe", "printshop v22 deluxe", "punch v 10.0 pro", "no digits", None],
                     dtype="string")
    assert list(product.version_numbers(norm)) == ["22", "22", "10", None, None]


def test_number_agreement_scores_shared_and_conflicting_versions():
    numbers = np.array(["22", "22", "3", "4", "150 2007", "150", None], dtype=object)
    left, right = np.array([0, 2, 4, 0]), np.array([1, 3, 5, 6])
    subset, jaccard = product.number_agreement(numbers, left, right)
    assert subset[:3].tolist() == [1.0, 0.0, 1.0]  # same version; cs3 vs cs4; one side's numbers all shared
    assert jaccard[:3].tolist() == [1.0, 0.0, 0.5]
    assert np.isnan(subset[3]) and np.isnan(jaccard[3])  # a side without numbers says nothing


def test_containment_is_one_for_a_title_inside_a_longer_one():
    # rows: {a, b}, {a, b, c}, {d}; unit weights then l2-normalised like TF-IDF rows
    dense = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    matrix = sparse.csr_matrix(dense / np.linalg.norm(dense, axis=1, keepdims=True))
    hi, lo = product.containment(matrix, np.array([0, 0]), np.array([1, 2]))
    np.testing.assert_allclose(hi, [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(lo, [2 / 3, 0.0], atol=1e-6)


def test_price_closeness_treats_zero_as_unknown():
    prices = np.array([10.0, 20.0, 10.0, 0.0, np.nan])
    out = product.price_closeness(prices, np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4]))
    assert out[:2].tolist() == [-1.0, 0.0]
    assert np.isnan(out[2:]).all()


def test_compare_adds_product_features_for_free_text_and_numbers():
    df = pd.DataFrame({"id": ["1", "2", "3"],
                       "title": ["photoshop cs3 for mac", "adobe photoshop cs4 mac", "photoshop cs3"],
                       "price": ["600", "0", "590"]})
    settings = Settings(primary_key="id", columns=[ColumnSettings("title", "free_text"),
                                                   ColumnSettings("price", "number")])
    feats = compare(prepare(df, settings), np.array([0, 0]), np.array([1, 2]))
    assert feats.sims["title:nums"].tolist() == [0.0, 1.0]
    assert abs(feats.sims["title:within"][1] - 1.0) < 1e-5  # 'photoshop cs3' lies wholly inside the first title
    assert np.isnan(feats.sims["price:log2"][0]) and -0.03 < feats.sims["price:log2"][1] < 0


def test_classifier_drops_columns_constant_inside_a_fold():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(30, bool), np.zeros(90, bool)]
    X = np.c_[y + rng.normal(0, 0.5, len(y)), np.full(len(y), np.nan)].astype(np.float32)
    X[0, 1] = 1.0  # one value in one row: informative on the whole set, constant in the folds without it
    X[1, 1] = 2.0
    model = PairClassifier().fit(X, y, groups=np.arange(len(y)) % 3)
    assert model.columns_.tolist() == [0]
    assert model.predict_proba(X).shape == (len(y),)
