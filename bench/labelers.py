"""Several simulated labelers per labeling set, consolidated by majority vote and by Dawid-Skene.

Usage::

    python bench/labelers.py [DATASET|BENCH_DIR ...] [--rounds 5] [--sets 10] [--set-size 10]
                             [--flip 0.1 0.2 0.3] [--seed 0] [--errors pair|record]

``--rounds R`` > 1 (the default, 5) runs R rounds, each consolidation its own labeling loop (:func:`run_rounds`):
every round the labelers answer ``--sets`` new sets chosen by that loop's model, all answers so far are
consolidated (majority vote, Dawid-Skene, or Dawid-Skene whose uncertain pairs a perfect reviewer adjudicated)
and the matcher is refitted on the consolidated record groups; a perfect labeler runs the same loop without
noise. The ``_weighted`` loops train on the same consolidation's groups with each pair weighted by the posterior
of its training side (``matcher.pair_weights``); being loops, they also choose their own sets. ``*_same_sets_weighted``
is the paired comparison: the unweighted loop's final labels refitted with those weights (same sets, same
answers, only the weights differ). ``--loops`` runs some loops only. It prints one JSON line per dataset: each
loop's F1 after the last round, the labels' pair accuracy against truth, and each labeler's true accuracy beside
Dawid-Skene's estimate (over all answers of the first Dawid-Skene loop run).

``--rounds 1``: per dataset (default: febrl3, dblp_acm, cora): fit a matcher without labels, choose one round of
``--sets`` labeling sets with ``matcher.active.choose_sets`` (as ``bench/labeling_rounds.py`` does), and let one
labeler per ``--flip`` rate answer every pair of every set from truth.csv, each pair's answer flipped with that
probability (flips are per pair and independent, so one labeler's answer to a set need not be transitive;
``--errors record`` instead gives each record a wrong label with that probability, so answers stay transitive). The
answers are consolidated by majority vote and by Dawid-Skene (``matcher.consolidation``); then the matcher is
refitted on the record groups of each consolidation (``group_labels``: average linkage on the posteriors),
on the perfect labels and on the best labeler's answers alone, and its clustering scored against truth.csv.

Prints one JSON line per dataset: pairs answered, pair accuracy of each consolidation against truth, each
labeler's true accuracy (the share of its answers that were right) next to Dawid-Skene's estimate and the
majority's agreement, the accuracy of the record groups trained on, and the pairwise F1 of each refitted matcher;
``dawid_skene_adjudicated`` is Dawid-Skene after a perfect reviewer answered the pairs whose posterior is within
(0.2, 0.8) (``uncertain_pairs`` without splits; ``adjudication_queue`` gives that queue's size and the size with
splits).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from labeling_rounds import DATASETS, label_from_truth  # noqa: E402
from score import pairwise_scores  # noqa: E402

from matcher.active import choose_sets, labeling_file  # noqa: E402
from matcher.consolidation import (  # noqa: E402
    ANSWER_COLUMNS,
    PAIR_KEY,
    Consolidated,
    consolidate,
    dawid_skene,
    group_labels,
    majority_vote,
    uncertain_pairs,
)
from matcher.io import read_table  # noqa: E402
from matcher.labels import Labels, read_labels  # noqa: E402
from matcher.pair_weights import confidence_weights  # noqa: E402
from matcher.pipeline import Matcher  # noqa: E402
from matcher.settings import Settings  # noqa: E402


def simulated_answers(truth_pairs: pd.DataFrame, flips: list[float], rng: np.random.Generator) -> pd.DataFrame:
    """One labeler per flip rate (named ``flip10`` for 10%), answering every pair, each flipped independently."""
    frames = []
    for rate in flips:
        flipped = rng.random(len(truth_pairs)) < rate
        said = truth_pairs["is_match"].to_numpy(dtype=bool) ^ flipped
        frames.append(truth_pairs.assign(labeler=f"flip{round(rate * 100):02d}", is_match=said)[ANSWER_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def record_error_answers(perfect: Labels, flips: list[float], rng: np.random.Generator) -> pd.DataFrame:
    """One labeler per rate, answering whole sets the Glue way: each record, with that probability, gets a wrong
    label (another group's of the set, or a new one of its own). Answers stay transitive, as a real labeler's do;
    the rate is per record, so the share of wrong pair answers differs (reported as the labeler's true accuracy)."""
    frames = []
    rows = perfect.rows
    for rate in flips:
        labels = rows["label"].to_numpy(dtype=object).copy()
        for positions in rows.groupby("labeling_set_id").indices.values():
            for p in positions[rng.random(len(positions)) < rate]:
                others = sorted(set(labels[positions]) - {labels[p]})
                options = [*others, f"new-{p}"]
                labels[p] = options[int(rng.integers(len(options)))]
        answer = Labels(rows.assign(label=labels)).pairs()
        frames.append(answer.assign(labeler=f"rec{round(rate * 100):02d}")[ANSWER_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def pair_accuracy(consolidated: Consolidated, truth_pairs: pd.DataFrame) -> dict:
    merged = consolidated.pairs.merge(truth_pairs, on=PAIR_KEY, suffixes=("", "_true"))
    right = merged["is_match"] == merged["is_match_true"]
    on_matches = merged["is_match_true"].to_numpy(dtype=bool)
    return {"accuracy": round(float(right.mean()), 4),
            "accuracy_on_matches": round(float(right[on_matches].mean()), 4) if on_matches.any() else None,
            "accuracy_on_non_matches": round(float(right[~on_matches].mean()), 4)}


def labeler_table(answers: pd.DataFrame, truth_pairs: pd.DataFrame, ds: Consolidated, mv: Consolidated) -> dict:
    merged = answers.merge(truth_pairs, on=PAIR_KEY, suffixes=("", "_true"))
    true = (merged["is_match"] == merged["is_match_true"]).groupby(merged["labeler"]).mean()
    estimated = ds.labelers.set_index("labeler")["accuracy"]
    agreement = mv.labelers.set_index("labeler")["accuracy"]
    return {name: {"true": round(float(true[name]), 4), "dawid_skene": round(float(estimated[name]), 4),
                   "majority_agreement": round(float(agreement[name]), 4),
                   "error": round(float(estimated[name] - true[name]), 4)} for name in true.index}


def f1_of(matcher: Matcher, labels: Labels, truth: pd.Series, records: pd.DataFrame, pk: str, src: str | None,
          weights: pd.DataFrame | None = None) -> float:
    result = matcher.refit_labels(labels, weights=weights).predict()
    score = pairwise_scores(result.records[[pk, "match_id"]].rename(columns={pk: "id"}), truth.reset_index(),
                            records[src] if src else None)
    return round(float(score["f1"]), 4)


def grouping_changes(consolidated: Consolidated) -> dict:
    """Consolidated pair verdicts the record groups (``group_labels``) reverse, as they must where the verdicts are
    not transitive (a ~ b, b ~ c but a !~ c), and the grouped labels' accuracy."""
    grouped = group_labels(consolidated).pairs()
    merged = consolidated.pairs.merge(grouped, on=PAIR_KEY, suffixes=("", "_grouped"))
    return {"nonmatch_to_match": int((merged["is_match_grouped"] & ~merged["is_match"]).sum()),
            "match_to_nonmatch": int((~merged["is_match_grouped"] & merged["is_match"]).sum())}


def grouped_accuracy(consolidated: Consolidated, truth_pairs: pd.DataFrame) -> dict:
    """The record groups' pair verdicts against truth: accuracy, and their errors by kind."""
    merged = group_labels(consolidated).pairs().merge(truth_pairs, on=PAIR_KEY, suffixes=("", "_true"))
    said, true = merged["is_match"].to_numpy(dtype=bool), merged["is_match_true"].to_numpy(dtype=bool)
    return {"accuracy": round(float((said == true).mean()), 4), "false_matches": int((said & ~true).sum()),
            "missed_matches": int((~said & true).sum())}


def adjudicated(consolidated: Consolidated, truth_pairs: pd.DataFrame, include_splits: bool) -> Consolidated:
    """``consolidated`` after a perfect reviewer answered its ``uncertain_pairs`` (posterior 0 or 1 from truth)."""
    queue = uncertain_pairs(consolidated, include_splits=include_splits)
    truth = truth_pairs.set_index(PAIR_KEY)["is_match"]
    pairs = consolidated.pairs.set_index(PAIR_KEY)
    reviewed = pd.MultiIndex.from_frame(queue[PAIR_KEY])
    decided = truth.reindex(reviewed).to_numpy(dtype=bool)
    pairs.loc[reviewed, "is_match"] = decided
    pairs.loc[reviewed, "posterior"] = decided.astype(float)
    return dataclasses.replace(consolidated, pairs=pairs.reset_index()[consolidated.pairs.columns])


def load(name: str) -> tuple[str, str | None, pd.DataFrame, pd.Series]:
    """A shared dataset (by name) or a bench directory: primary key, source column, records, truth by key."""
    bench = Path(name) if (Path(name) / "meta.json").exists() else DATASETS / name / "bench"
    meta = json.loads((bench / "meta.json").read_text())
    pk, src = meta["primary_key"], meta["source_column"]
    records = read_table(bench / "records.csv", pk, src)
    return pk, src, records, pd.read_csv(bench / "truth.csv", dtype=str).set_index("id")["entity_id"]


def run(name: str, num_sets: int, set_size: int, flips: list[float], seed: int, errors: str = "pair") -> dict:
    started = time.time()
    pk, src, records, truth = load(name)
    matcher = Matcher(Settings(primary_key=pk, source_column=src)).fit(records)
    sets = choose_sets(matcher, num_sets, set_size, set(), seed=seed)
    perfect = read_labels(label_from_truth(labeling_file(matcher, sets), truth, pk), pk)
    truth_pairs = perfect.pairs()
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])  # independent errors per dataset
    answers = (simulated_answers(truth_pairs, flips, rng) if errors == "pair"
               else record_error_answers(perfect, flips, rng))
    mv, ds, auto = majority_vote(answers), dawid_skene(answers), consolidate(answers)
    best = answers[answers["labeler"] == answers["labeler"].min()]  # the lowest flip rate
    single = majority_vote(best)
    reviewed = adjudicated(ds, truth_pairs, include_splits=False)
    f1 = {"no_labels": f1_of(matcher, Labels.empty(), truth, records, pk, src),
          "perfect": f1_of(matcher, perfect, truth, records, pk, src),
          "majority_vote": f1_of(matcher, group_labels(mv), truth, records, pk, src),
          "dawid_skene": f1_of(matcher, group_labels(ds), truth, records, pk, src),
          "best_labeler_alone": f1_of(matcher, group_labels(single), truth, records, pk, src),
          "dawid_skene_adjudicated": f1_of(matcher, group_labels(reviewed), truth, records, pk, src)}
    return {
        "dataset": name, "sets": len(sets), "records_labeled": len(perfect.rows), "pairs": len(truth_pairs),
        "match_pairs": int(truth_pairs["is_match"].sum()), "answers": len(answers), "seed": seed, "errors": errors,
        "auto_method": auto.method,
        "pair_accuracy": {"majority_vote": pair_accuracy(mv, truth_pairs),
                          "dawid_skene": pair_accuracy(ds, truth_pairs),
                          "best_labeler_alone": pair_accuracy(single, truth_pairs)},
        "dawid_skene_iterations": ds.iterations, "dawid_skene_converged": ds.converged,
        "match_prior": {"true": round(float(truth_pairs["is_match"].mean()), 4),
                        "dawid_skene": round(ds.match_prior, 4)},
        "labeler_accuracy": labeler_table(answers, truth_pairs, ds, mv),
        "grouping_changes": {"majority_vote": grouping_changes(mv), "dawid_skene": grouping_changes(ds)},
        "grouped_pair_accuracy": {"majority_vote": grouped_accuracy(mv, truth_pairs),
                                  "dawid_skene": grouped_accuracy(ds, truth_pairs),
                                  "best_labeler_alone": grouped_accuracy(single, truth_pairs),
                                  "dawid_skene_adjudicated": grouped_accuracy(reviewed, truth_pairs)},
        "adjudication_queue": {"band": len(uncertain_pairs(ds, include_splits=False)),
                               "band_or_split": len(uncertain_pairs(ds))},
        "f1": f1, "seconds": round(time.time() - started, 1),
    }


LOOPS = ("perfect", "majority_vote", "dawid_skene", "dawid_skene_adjudicated", "majority_vote_weighted",
         "dawid_skene_weighted")
WEIGHTED = "_weighted"  # the loop trains on the same groups, each pair weighted by its posterior (pair_weights)


@dataclasses.dataclass
class Loop:
    """One labeling loop: its matcher, the record groups it trains on, and every answer its labelers gave."""

    matcher: Matcher
    labels: Labels
    answers: pd.DataFrame
    truth_pairs: pd.DataFrame
    reviewed: int = 0
    weights: pd.DataFrame | None = None


def _consolidated_labels(loop: Loop, kind: str) -> Labels:
    """The loop's record groups from all its answers so far (a perfect reviewer first settles the uncertain
    pairs of the adjudicated loop; ``reviewed`` counts them). A weighted loop also sets its pair weights."""
    method = kind.removesuffix(WEIGHTED)
    result = majority_vote(loop.answers) if method == "majority_vote" else dawid_skene(loop.answers)
    if method == "dawid_skene_adjudicated":
        loop.reviewed += len(uncertain_pairs(result, include_splits=False))
        result = adjudicated(result, loop.truth_pairs, include_splits=False)
    labels = group_labels(result)
    loop.weights = confidence_weights(result.pairs, labels) if kind.endswith(WEIGHTED) else None
    return labels


def _round(loop: Loop, kind: str, r: int, truth: pd.Series, pk: str, args: tuple[int, int, list[float], int, str],
           name: str) -> None:
    """One round of ``loop``: its model chooses sets, its labelers answer them, it is refitted."""
    num_sets, set_size, flips, seed, errors = args
    sets = choose_sets(loop.matcher, num_sets, set_size, loop.labels.key_set() | _answered_keys(loop),
                       seed=r + 1000 * seed)
    perfect = read_labels(label_from_truth(labeling_file(loop.matcher, sets), truth, pk), pk)
    loop.truth_pairs = pd.concat([loop.truth_pairs, perfect.pairs()], ignore_index=True)
    if kind == "perfect":
        loop.labels = loop.labels.append(perfect)
    else:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), r])  # the same noise draws in every loop
        new = (simulated_answers(perfect.pairs(), flips, rng) if errors == "pair"
               else record_error_answers(perfect, flips, rng))
        loop.answers = pd.concat([loop.answers, new], ignore_index=True)
        loop.reviewed = 0  # recounted over all answers, as the queue is recomputed from them
        loop.labels = _consolidated_labels(loop, kind)
    loop.matcher = loop.matcher.refit_labels(loop.labels, weights=loop.weights)


def _answered_keys(loop: Loop) -> set[str]:
    return set(loop.answers["key_a"]) | set(loop.answers["key_b"]) if len(loop.answers) else set()


def run_rounds(name: str, rounds: int, num_sets: int, set_size: int, flips: list[float], seed: int,
               errors: str = "pair", kinds: tuple[str, ...] = LOOPS) -> dict:
    started = time.time()
    pk, src, records, truth = load(name)
    start = Matcher(Settings(primary_key=pk, source_column=src)).fit(records)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ANSWER_COLUMNS})
    loops = {kind: Loop(start, Labels.empty(), empty, pd.DataFrame(columns=[*PAIR_KEY, "is_match"]))
             for kind in kinds}
    for r in range(rounds):
        for kind, loop in loops.items():
            _round(loop, kind, r, truth, pk, (num_sets, set_size, flips, seed, errors), name)
    f1 = {kind: f1_of(loop.matcher, loop.labels, truth, records, pk, src, loop.weights) for kind, loop in loops.items()}
    for kind in ("majority_vote", "dawid_skene"):  # the same sets and answers, only the weights differ
        if kind in loops:
            f1[f"{kind}_same_sets_weighted"] = f1_of(loops[kind].matcher, loops[kind].labels, truth, records, pk, src,
                                                     _weights_of(loops[kind], kind))
    ds_loop = next(loop for kind, loop in loops.items() if kind.startswith("dawid_skene"))
    ds, mv = dawid_skene(ds_loop.answers), majority_vote(ds_loop.answers)
    estimates = labeler_table(ds_loop.answers, ds_loop.truth_pairs, ds, mv)
    return {
        "dataset": name, "rounds": rounds, "sets_per_round": num_sets, "seed": seed, "errors": errors,
        "records_labeled": {kind: len(loop.labels.rows) for kind, loop in loops.items()},
        "f1": f1, **_differences(f1),
        "grouped_pair_accuracy": {kind: _labels_accuracy(loop) for kind, loop in loops.items() if kind != "perfect"},
        "labeler_accuracy": estimates,
        "max_abs_estimate_error": max(abs(v["error"]) for v in estimates.values()),
        "adjudicated_pairs": loops["dawid_skene_adjudicated"].reviewed if "dawid_skene_adjudicated" in loops else None,
        "mean_weight": {kind: round(float(loop.weights["weight"].mean()), 4) for kind, loop in loops.items()
                        if loop.weights is not None},
        "seconds": round(time.time() - started, 1),
    }


def _weights_of(loop: Loop, kind: str) -> pd.DataFrame:
    """The confidence weights of an unweighted loop's final labels (``pair_weights.confidence_weights``)."""
    result = majority_vote(loop.answers) if kind == "majority_vote" else dawid_skene(loop.answers)
    return confidence_weights(result.pairs, loop.labels)


def _differences(f1: dict[str, float]) -> dict[str, float]:
    """F1 differences between the loops that ran: DS - MV, DS - perfect, and each weighted loop - its unweighted."""
    pairs = {"ds_minus_mv": ("dawid_skene", "majority_vote"), "ds_minus_perfect": ("dawid_skene", "perfect"),
             "mv_weighted_minus_mv": ("majority_vote_weighted", "majority_vote"),
             "ds_weighted_minus_ds": ("dawid_skene_weighted", "dawid_skene"),
             "mv_same_sets_weighted_minus_mv": ("majority_vote_same_sets_weighted", "majority_vote"),
             "ds_same_sets_weighted_minus_ds": ("dawid_skene_same_sets_weighted", "dawid_skene")}
    return {name: round(f1[a] - f1[b], 4) for name, (a, b) in pairs.items() if a in f1 and b in f1}


def _labels_accuracy(loop: Loop) -> float:
    merged = loop.labels.pairs().merge(loop.truth_pairs, on=PAIR_KEY, suffixes=("", "_true"))
    return round(float((merged["is_match"] == merged["is_match_true"]).mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", default=["febrl3", "dblp_acm", "cora"])
    parser.add_argument("--rounds", type=int, default=5, help="1: the single-round report (best labeler alone...)")
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument("--set-size", type=int, default=10)
    parser.add_argument("--flip", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=list(LOOPS),
                        help="the labeling loops to run (rounds > 1); the loops not listed cost nothing")
    parser.add_argument("--errors", choices=["pair", "record"], default="pair",
                        help="pair: every pair answer flipped independently; record: records given a wrong label")
    args = parser.parse_args()
    for name in args.datasets:
        if args.rounds > 1:
            out = run_rounds(name, args.rounds, args.sets, args.set_size, args.flip, args.seed, args.errors,
                             tuple(args.loops))
        else:
            out = run(name, args.sets, args.set_size, args.flip, args.seed, args.errors)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
