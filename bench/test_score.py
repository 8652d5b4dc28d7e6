"""Self-check of bench/score.py on hand-computed examples: ``pytest bench/test_score.py``."""

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import main, pairwise_scores  # noqa: E402


def frame(**cols):
    return pd.DataFrame(cols)


def test_dedup_hand_computed():
    # truth: {a,b,c} {d,e} {f} -> 3 + 1 = 4 true pairs
    # pred:  {a,b} {c,d} {e} {f} -> 2 predicted pairs; only a-b is true
    truth = frame(id=list("abcdef"), entity_id=["E1", "E1", "E1", "E2", "E2", "E3"])
    pred = frame(id=list("abcdef"), match_id=["1", "1", "2", "2", "3", "4"])
    got = pairwise_scores(pred, truth, None)
    assert got["predicted_pairs"] == 2
    assert got["true_pairs"] == 4
    assert (got["tp"], got["fp"], got["fn"]) == (1, 1, 3)
    assert got["precision"] == 0.5
    assert got["recall"] == 0.25
    assert got["f1"] == pytest.approx(1 / 3)


def test_dedup_missing_predictions_are_singletons_and_extra_ids_ignored():
    truth = frame(id=list("abcd"), entity_id=["X", "X", "X", "Y"])
    pred = frame(id=["a", "b", "zz"], match_id=["k", "k", "k"])  # c, d missing; zz unknown
    got = pairwise_scores(pred, truth, None)
    assert (got["predicted_pairs"], got["true_pairs"], got["tp"]) == (1, 3, 1)
    assert got["precision"] == 1.0
    assert got["recall"] == pytest.approx(1 / 3)
    assert got["f1"] == 0.5


def test_linkage_hand_computed():
    # sources: a1,a2 in A; b1,b2 in B
    # truth {a1,b1,b2} {a2}: cross pairs a1-b1, a1-b2 = 2 = (3^2 - 1^2 - 2^2) / 2
    # pred  {a1,a2,b1} {b2}: cross pairs a1-b1, a2-b1 = 2; a1-a2 is same-source, not counted
    truth = frame(id=["a1", "a2", "b1", "b2"], entity_id=["X", "Y", "X", "X"])
    pred = frame(id=["a1", "a2", "b1", "b2"], match_id=[7, 7, 7, 8])
    source = pd.Series(["A", "A", "B", "B"], index=["a1", "a2", "b1", "b2"])
    got = pairwise_scores(pred, truth, source)
    assert (got["predicted_pairs"], got["true_pairs"]) == (2, 2)
    assert (got["tp"], got["fp"], got["fn"]) == (1, 1, 1)
    assert got["precision"] == got["recall"] == got["f1"] == 0.5


def test_linkage_same_source_pairs_never_count():
    truth = frame(id=["a1", "a2", "a3"], entity_id=["X", "X", "X"])
    pred = frame(id=["a1", "a2", "a3"], match_id=["m", "m", "m"])
    source = pd.Series(["A", "A", "A"])  # positional
    got = pairwise_scores(pred, truth, source)
    assert (got["predicted_pairs"], got["true_pairs"], got["tp"]) == (0, 0, 0)
    assert (got["precision"], got["recall"], got["f1"]) == (0.0, 0.0, 0.0)


def test_order_of_rows_does_not_matter_and_duplicate_ids_are_refused():
    truth = frame(id=["a1", "a2", "b1", "b2"], entity_id=["X", "Y", "X", "X"])
    pred = frame(id=["b2", "a2", "b1", "a1"], match_id=[8, 7, 7, 7])
    source = pd.Series(["B", "A", "A", "B"], index=["b1", "a2", "a1", "b2"])
    got = pairwise_scores(pred, truth, source)
    assert (got["predicted_pairs"], got["true_pairs"], got["tp"]) == (2, 2, 1)
    with pytest.raises(ValueError, match="more than once"):
        pairwise_scores(frame(id=["a1", "a1"], match_id=[1, 2]), truth, None)


def brute_force(pred, truth, source):
    cluster = dict(zip(pred["id"], pred["match_id"], strict=True))
    entity = dict(zip(truth["id"], truth["entity_id"], strict=True))
    src = dict(zip(truth["id"], source, strict=True)) if source is not None else None
    tp = fp = fn = 0
    for x, y in itertools.combinations(truth["id"], 2):
        if src is not None and src[x] == src[y]:
            continue
        same_pred, same_true = cluster[x] == cluster[y], entity[x] == entity[y]
        tp += same_pred and same_true
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return tp, fp, fn


@pytest.mark.parametrize("linkage", [False, True])
def test_matches_brute_force_on_random_data(linkage):
    rng = np.random.default_rng(7)
    ids = [f"r{i}" for i in range(300)]
    truth = frame(id=ids, entity_id=rng.integers(0, 90, 300).astype(str))
    pred = frame(id=ids, match_id=rng.integers(0, 110, 300))
    source = rng.choice(["a", "b", "c"], 300) if linkage else None
    got = pairwise_scores(pred, truth, None if source is None else pd.Series(source, index=ids))
    assert (got["tp"], got["fp"], got["fn"]) == brute_force(pred, truth, source)


def test_cli(tmp_path, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "meta.json").write_text(json.dumps({"primary_key": "id", "source_column": "source"}))
    (bench / "records.csv").write_text("id,source,name\na1,A,x\na2,A,y\nb1,B,x\nb2,B,x\n")
    (bench / "truth.csv").write_text("id,entity_id\na1,X\na2,Y\nb1,X\nb2,X\n")
    (tmp_path / "pred.csv").write_text("id,match_id\na1,7\na2,7\nb1,7\nb2,\n")  # empty: singleton
    assert main([str(tmp_path / "pred.csv"), str(bench)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["tp"], got["fp"], got["fn"], got["f1"]) == (1, 1, 1, 0.5)


def test_ids_our_csv_writer_neutralised_are_scored_as_they_were(tmp_path, capsys):
    """matches.csv prefixes ' to formula-like text (matcher.csv_safety): "-a" is written as "'-a"."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "meta.json").write_text(json.dumps({"primary_key": "id"}))
    (bench / "truth.csv").write_text("id,entity_id\n-a,X\n=b,X\nc,Y\n")
    (tmp_path / "pred.csv").write_text("id,match_id\n'-a,'-a\n'=b,'-a\nc,c\n")
    assert main([str(tmp_path / "pred.csv"), str(bench)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["tp"], got["fp"], got["fn"], got["f1"]) == (1, 0, 0, 1.0)
