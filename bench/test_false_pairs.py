"""Self-check of bench/false_pairs.py on a hand-made run: ``pytest bench/test_false_pairs.py``."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from false_pairs import main, wrong_pairs  # noqa: E402


def test_wrong_pairs_dedup_and_linkage():
    # truth {a,b} {c} {d,e}; output {a,b,c} {d} {e}: a-c, b-c wrong together, d-e split
    truth = pd.Series(["E1", "E1", "E2", "E3", "E3"], index=list("abcde"))
    out = pd.Series(["1", "1", "1", "2", "3"], index=list("abcde"))
    fp, fn = wrong_pairs(out, truth)
    assert fp == {("a", "c"), ("b", "c")}
    assert fn == {("d", "e")}
    # linkage: a and c from one source, so only b-c is a counted false positive
    source = pd.Series(["x", "y", "x", "x", "y"], index=list("abcde"))
    fp, fn = wrong_pairs(out, truth, source)
    assert fp == {("b", "c")}
    assert fn == {("d", "e")}


def test_report_names_the_evidence(tmp_path, capsys):
    # two restaurants of one hotel (same address and phone) put together; a true pair split
    records = pd.DataFrame({"id": ["r1", "r2", "r3", "r4"],
                            "name": ["palace court", "empress court", "cafe roma", "caffe roma"],
                            "addr": ["3570 las vegas blvd", "3570 las vegas blvd", "1 main st", "1 main st"]})
    records.to_csv(tmp_path / "records.csv", index=False)
    pd.DataFrame({"id": ["r1", "r2", "r3", "r4"], "entity_id": ["A", "B", "C", "C"]}).to_csv(
        tmp_path / "truth.csv", index=False)
    (tmp_path / "meta.json").write_text(json.dumps({"primary_key": "id", "source_column": None}))
    pd.DataFrame({"id": ["r1", "r2", "r3", "r4"], "match_id": ["r1", "r1", "r3", "r4"]}).to_csv(
        tmp_path / "out.csv", index=False)
    pd.DataFrame({"key_a": ["r2", "r3"], "key_b": ["r1", "r4"], "match_probability": [0.96, 0.42],
                  "name_contribution": [-1.8, 5.2], "addr_contribution": [9.2, 9.2]}).to_csv(
        tmp_path / "pairs.csv", index=False)
    main([str(tmp_path / "out.csv"), str(tmp_path), "--pairs", str(tmp_path / "pairs.csv")])
    text = capsys.readouterr().out
    fp_line, fn_line = (line for line in text.splitlines() if line.startswith("=="))
    fp = json.loads(fp_line.split(": ", 1)[1])
    assert (fp["pairs"], fp["scored"], fp["scored_at_or_above_0.5"]) == (1, 1, 1)
    assert fp["equal_values"] == {"addr": 1}
    fn = json.loads(fn_line.split(": ", 1)[1])
    assert (fn["pairs"], fn["scored_below_0.5"]) == (1, 1)
    assert "name -1.8, addr +9.2" in text  # the pair is printed with its per-column bits
    assert "r1 | r2" in text and "r3 | r4" in text


def test_false_negatives_by_stage():
    # entity E: a, b, c, d, e. Output {a, b} {c} {d} {e}. True candidate pairs: a-b 0.9, b-c 0.9, c-d 0.2; e none.
    # a-c and b-c: a strong chain joins them, the clustering split them; a-d, b-d, c-d: only through c-d (0.2),
    # scoring; every pair with e: no candidate reaches e, blocking
    from false_pairs import fn_stages
    entity = pd.Series(["E"] * 5 + ["F"], index=list("abcdef"))
    out = pd.Series(["1", "1", "2", "3", "4", "5"], index=list("abcdef"))
    _, fn = wrong_pairs(out, entity)
    scored = {("a", "b"): {"match_probability": 0.9}, ("b", "c"): {"match_probability": 0.9},
              ("c", "d"): {"match_probability": 0.2}, ("d", "f"): {"match_probability": 0.8}}
    assert fn_stages(fn, entity, scored, 0.5) == {"blocking": 4, "scoring": 3, "clustering": 2}
    # at a threshold of 0.1 the chain to d is strong enough: those pairs become the clustering's
    assert fn_stages(fn, entity, scored, 0.1) == {"blocking": 4, "scoring": 0, "clustering": 5}
