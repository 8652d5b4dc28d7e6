"""Consolidating several labelers' answers into one verdict per record pair, as a labeling workforce needs.

Each labeler answers a labeling set the Glue way (records with the same label are one entity), so an answer is
a match / non-match vote on every pair of records in the set (:meth:`matcher.labels.Labels.pairs`). The answers
frame has one row per labeler per pair: ``labeler, labeling_set_id, key_a, key_b, is_match`` (``key_a < key_b``).
A pair is consolidated *within its set*: the same two records in two sets are two questions.

Two consolidations:

* :func:`majority_vote`: the share of match votes is the posterior; a tie is a non-match, because most pairs
  a labeler sees are non-matches and a wrong match is the costlier error (clustering spreads it to every record
  linked to either side).
* :func:`dawid_skene`: the model of Dawid & Skene (1979), "Maximum Likelihood Estimation of Observer
  Error-Rates Using the EM Algorithm", Applied Statistics 28(1):20-28. Each pair has an unknown true class
  ``z`` (match with prior probability ``pi``); labeler ``j`` answers independently given ``z`` with a 2x2
  confusion matrix, here its sensitivity ``P(says match | match)`` and specificity
  ``P(says non-match | non-match)``. EM alternates the E-step (each pair's posterior ``P(z = match | answers)``
  by Bayes' rule, a sum of log-likelihood ratios) and the M-step (each labeler's confusion and ``pi`` from the
  posterior-weighted counts), starting from the majority vote's posteriors so that the labels are not swapped
  (EM has a mirror solution in which every labeler is wrong). Unlike the paper's maximum likelihood, the M-step
  adds pseudo-counts (a Beta prior, :class:`LabelerPrior`) to every labeler's counts: a labeler who gave five
  answers, all agreeing, is estimated good, not perfect; a perfect estimate would make that labeler's vote
  outweigh any number of others (a log-likelihood ratio of infinity).

A labeler estimated at chance (sensitivity + specificity = 1: a spammer answering at random) gets a log-
likelihood ratio near 0 for either answer, so the model ignores them instead of counting their vote as one.

:func:`consolidate` picks Dawid-Skene once the answers can identify the labelers' confusion (see
:func:`auto_method`), else the majority vote. Read while writing this (for the model, not the code): the
paper above; the documentation of Toloka's crowd-kit ``DawidSkene`` (the latent label model, majority-vote
initialisation); Ipeirotis et al. (2010), "Quality Management on Amazon Mechanical Turk" (worker quality from the
confusion matrix, spammers at chance).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from matcher.errors import LabelError, shown, shown_all
from matcher.labels import SET_COLUMN, Labels, read_labels

ANSWER_COLUMNS = ["labeler", SET_COLUMN, "key_a", "key_b", "is_match"]
PAIR_KEY = [SET_COLUMN, "key_a", "key_b"]
PAIR_COLUMNS = ["key_a", "key_b", SET_COLUMN, "posterior", "is_match", "n_answers", "n_match_votes", "agreement"]
LABELER_COLUMNS = ["labeler", "n_answers", "accuracy", "sensitivity", "specificity"]

MIN_LABELERS = 2
"""Dawid-Skene needs at least this many labelers with :data:`MIN_LABELER_ANSWERS` answers each..."""
MIN_LABELER_ANSWERS = 20
MIN_SHARED_PAIRS = 20
"""...and this many pairs answered by two labelers or more: a labeler's errors show only against others."""


@dataclass(frozen=True)
class LabelerPrior:
    """Pseudo-answers added to every labeler's confusion counts, per true class: ``correct`` right answers and
    ``wrong`` wrong ones (a Beta(correct, wrong) prior on sensitivity and on specificity, mean 2/3 by default).
    They weigh as much as three answers: they matter for a labeler with a handful, not one with hundreds."""

    correct: float = 2.0
    wrong: float = 1.0
    class_pseudo: float = 1.0
    """Pseudo-pairs of each class added when estimating the share of matches."""


@dataclass(frozen=True)
class Consolidated:
    """Consolidated verdicts: ``pairs`` (:data:`PAIR_COLUMNS`, one row per pair within a set) and ``labelers``
    (:data:`LABELER_COLUMNS`). For the majority vote a labeler's figures are measured against the consensus;
    for Dawid-Skene they are the model's estimates. ``match_prior`` is the estimated share of matching pairs."""

    pairs: pd.DataFrame
    labelers: pd.DataFrame
    method: str
    reason: str
    iterations: int = 0
    converged: bool = True
    match_prior: float = float("nan")


def answers_from(
    by_labeler: Mapping[str, Labels | pd.DataFrame | str | os.PathLike[str]], primary_key: str = "id"
) -> pd.DataFrame:
    """The answers frame from one :class:`Labels` or labeling file (path or DataFrame, read by
    :func:`matcher.labels.read_labels` with ``primary_key``) per labeler name."""
    frames = []
    for labeler, source in by_labeler.items():
        if not isinstance(labeler, str) or not labeler:
            raise LabelError(f"labeler names must be non-empty strings, got {shown(labeler)}")
        labels = source if isinstance(source, Labels) else read_labels(source, primary_key)
        pairs = labels.pairs()
        frames.append(pairs.assign(labeler=labeler)[ANSWER_COLUMNS])
    if not frames:
        raise LabelError("no labelers' answers to consolidate")
    return validated(pd.concat(frames, ignore_index=True))


def validated(answers: pd.DataFrame) -> pd.DataFrame:
    """``answers`` checked (:class:`LabelError` naming the first problem) and normalised: string columns as
    object strings, ``is_match`` as bool, rows sorted by set, pair and labeler."""
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise LabelError(f"answers need columns {ANSWER_COLUMNS}; missing {shown_all(missing)}")
    if answers.empty:
        raise LabelError("no answers to consolidate")
    empty = answers[ANSWER_COLUMNS].isna().any()
    if empty.any():
        raise LabelError(f"answers have empty values in column(s) {shown_all(list(empty.index[empty]))}")
    if not _is_bool(answers["is_match"]):
        raise LabelError(f"answers' is_match must be bool (True/False), got dtype {answers['is_match'].dtype}, "
                         f"e.g. {shown(answers['is_match'].iloc[0])}")
    frame = pd.DataFrame({c: answers[c].astype(str).astype(object) for c in ANSWER_COLUMNS[:4]})
    frame["is_match"] = answers["is_match"].to_numpy(dtype=bool)
    unordered = (frame["key_a"] >= frame["key_b"]).to_numpy(dtype=bool)
    if unordered.any():
        row = frame[unordered].iloc[0]
        raise LabelError(f"answers must have key_a < key_b; {int(unordered.sum())} row(s) do not, e.g. "
                         f"key_a={shown(row['key_a'])}, key_b={shown(row['key_b'])}")
    repeated = frame.duplicated(["labeler", *PAIR_KEY]).to_numpy()
    if repeated.any():
        row = frame[repeated].iloc[0]
        raise LabelError(f"labeler {shown(row['labeler'])} answered pair ({shown(row['key_a'])}, "
                         f"{shown(row['key_b'])}) of set {shown(row[SET_COLUMN])} more than once")
    return frame.sort_values([*PAIR_KEY, "labeler"], ignore_index=True)


def majority_vote(answers: pd.DataFrame) -> Consolidated:
    """The share of match votes per pair; a tie is a non-match (see the module docstring)."""
    frame = validated(answers)
    pair_of, pairs = _pairs(frame)
    votes = frame["is_match"].to_numpy(dtype=bool)
    posterior = _vote_share(pair_of, votes, len(pairs))
    table = _pair_table(pairs, frame, pair_of, posterior)
    labelers = _labelers_against(frame, pair_of, table["is_match"].to_numpy(dtype=bool))
    return Consolidated(table, labelers, "majority_vote", "majority vote of each pair's answers (a tie: non-match)",
                        match_prior=float(table["is_match"].mean()))


def dawid_skene(answers: pd.DataFrame, max_iter: int = 500, tol: float = 1e-6,
                prior: LabelerPrior = LabelerPrior()) -> Consolidated:
    """EM over each labeler's sensitivity and specificity and the share of matches (module docstring).
    Stops when no posterior or parameter moves by more than ``tol``; ``converged`` says whether it did within
    ``max_iter`` iterations. EM converges linearly: three labelers on 400 pairs took 88 iterations to 1e-6,
    hence 500 (an iteration is a few bincounts: milliseconds for thousands of answers)."""
    if max_iter < 1 or tol <= 0:
        raise LabelError(f"dawid_skene needs max_iter >= 1 and tol > 0, got {max_iter} and {tol}")
    frame = validated(answers)
    pair_of, pairs = _pairs(frame)
    labeler_of, names = pd.factorize(frame["labeler"], sort=True)
    votes = frame["is_match"].to_numpy(dtype=float)
    posterior = _vote_share(pair_of, frame["is_match"].to_numpy(dtype=bool), len(pairs))
    posterior = np.where(posterior == 0.5, 0.0, posterior)  # majority start, ties decided as non-matches
    params = np.zeros(0)
    converged, iterations = False, 0
    while not converged and iterations < max_iter:
        iterations += 1
        sens, spec, match_prior = _m_step(posterior, pair_of, labeler_of, votes, len(names), prior)
        new_posterior = _e_step(sens, spec, match_prior, pair_of, labeler_of, votes, len(pairs))
        new_params = np.r_[sens, spec, match_prior]
        moved = np.abs(new_posterior - posterior).max()
        if params.size:
            moved = max(moved, np.abs(new_params - params).max())
        posterior, params = new_posterior, new_params
        converged = bool(moved < tol)
    sens, spec, match_prior = _m_step(posterior, pair_of, labeler_of, votes, len(names), prior)
    table = _pair_table(pairs, frame, pair_of, posterior)
    labelers = _labelers_estimated(names, labeler_of, pair_of, votes, posterior, sens, spec, prior)
    reason = f"Dawid-Skene EM over {len(names)} labelers' confusion ({iterations} iterations)"
    return Consolidated(table, labelers, "dawid_skene", reason, iterations, converged, float(match_prior))


def auto_method(answers: pd.DataFrame) -> tuple[str, str]:
    """``("dawid_skene" | "majority_vote", why)``: Dawid-Skene once at least :data:`MIN_LABELERS` labelers
    answered :data:`MIN_LABELER_ANSWERS` pairs each and :data:`MIN_SHARED_PAIRS` pairs have two answers or more;
    with fewer, a labeler's confusion is mostly the prior and the majority is as good and easier to explain."""
    frame = validated(answers)
    per_labeler = frame["labeler"].value_counts()
    busy = int((per_labeler >= MIN_LABELER_ANSWERS).sum())
    shared = int((frame.groupby(PAIR_KEY, sort=False).size() >= 2).sum())
    if busy >= MIN_LABELERS and shared >= MIN_SHARED_PAIRS:
        return "dawid_skene", (f"{busy} labelers answered >= {MIN_LABELER_ANSWERS} pairs each and {shared} pairs "
                               f"have >= 2 answers")
    return "majority_vote", (f"Dawid-Skene needs >= {MIN_LABELERS} labelers with >= {MIN_LABELER_ANSWERS} answers "
                             f"each (have {busy}) and >= {MIN_SHARED_PAIRS} pairs with >= 2 answers (have {shared})")


def consolidate(answers: pd.DataFrame, method: str = "auto", max_iter: int = 500, tol: float = 1e-6,
                prior: LabelerPrior = LabelerPrior()) -> Consolidated:
    """Consolidate with ``method`` ("auto", "dawid_skene", "majority_vote"); ``reason`` says which ran and why.
    ``max_iter``, ``tol`` and ``prior`` are :func:`dawid_skene`'s."""
    if method not in ("auto", "dawid_skene", "majority_vote"):
        raise LabelError(f"unknown consolidation method {shown(method)}: auto, dawid_skene or majority_vote")
    why = f"{method} asked for"
    if method == "auto":
        method, why = auto_method(answers)
    result = majority_vote(answers) if method == "majority_vote" else dawid_skene(answers, max_iter, tol, prior)
    return Consolidated(result.pairs, result.labelers, result.method, f"{why}: {result.reason}",
                        result.iterations, result.converged, result.match_prior)


def uncertain_pairs(consolidated: Consolidated, band: tuple[float, float] = (0.2, 0.8),
                    include_splits: bool = True) -> pd.DataFrame:
    """The pairs an adjudication queue takes: posterior within ``band`` (inclusive), or (``include_splits``)
    answered differently by different labelers. Adds a ``why`` column; least certain first."""
    low, high = band
    if not 0.0 <= low <= high <= 1.0:
        raise LabelError(f"band must be (low, high) with 0 <= low <= high <= 1, got {band}")
    pairs = consolidated.pairs
    in_band = pairs["posterior"].between(low, high).to_numpy(dtype=bool)
    split = ((pairs["n_match_votes"] > 0) & (pairs["n_match_votes"] < pairs["n_answers"])).to_numpy(dtype=bool)
    chosen = in_band | (split & include_splits)
    why = np.where(in_band & split, "posterior in band; labelers split",
                   np.where(in_band, "posterior in band", "labelers split"))
    out = pairs[chosen].assign(why=why[chosen])
    order = np.argsort(np.abs(out["posterior"].to_numpy(dtype=float) - 0.5), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def labels_from(consolidated: Consolidated) -> pd.DataFrame:
    """A pairs frame for training: ``key_a, key_b, is_match, labeling_set_id, weight``, the weight being the
    confidence in the verdict, ``max(posterior, 1 - posterior)`` (0.5 to 1)."""
    pairs = consolidated.pairs
    posterior = pairs["posterior"].to_numpy(dtype=float)
    return pd.DataFrame({"key_a": pairs["key_a"], "key_b": pairs["key_b"], "is_match": pairs["is_match"],
                         SET_COLUMN: pairs[SET_COLUMN], "weight": np.maximum(posterior, 1.0 - posterior)})


def group_labels(consolidated: Consolidated) -> Labels:
    """Glue-style record labels (what :class:`matcher.pipeline.Matcher` trains on) from the consolidated pairs.

    Pair verdicts need not be transitive (a ~ b, b ~ c, a !~ c), groups are. Within each set the records are
    grouped by average linkage on the posteriors: the two groups whose pairs have the highest mean posterior
    merge while that mean is above 0.5. Connected components of the matching pairs would side with every match:
    on simulated labelers flipping 10-30% of their answers they turned most consolidated non-matches of a set
    into matches. Records of a set appear only through its pairs."""
    pairs = consolidated.pairs
    rows: list[tuple[str, str, str]] = []
    for set_id, group in pairs.groupby(SET_COLUMN, sort=True):
        keys = sorted(set(group["key_a"]) | set(group["key_b"]))
        edges = zip(group["key_a"], group["key_b"], group["posterior"].to_numpy(dtype=float), strict=True)
        label = _average_linkage(keys, edges)
        rows += [(str(set_id), k, label[k]) for k in keys]
    return Labels(pd.DataFrame(rows, columns=[SET_COLUMN, "key", "label"]))


def _average_linkage(keys: list[str], edges: Iterable[tuple[str, str, float]]) -> dict[str, str]:
    """Each key's group, named by its first key; unanswered pairs count neither way (a set holds <= 50 records,
    so the quadratic matrices and the at most 49 merges are cheap)."""
    index = {k: i for i, k in enumerate(keys)}
    n = len(keys)
    total, count = np.zeros((n, n)), np.zeros((n, n))
    for a, b, posterior in edges:
        i, j = index[a], index[b]
        total[i, j] = total[j, i] = posterior
        count[i, j] = count[j, i] = 1.0
    members = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, -1.0)
        mean[~alive, :] = mean[:, ~alive] = -1.0
        np.fill_diagonal(mean, -1.0)
        x, y = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[x, y] <= 0.5:
            break
        i, j = int(min(x, y)), int(max(x, y))  # keep the lower index: deterministic names
        total[i, :] += total[j, :]
        total[:, i] += total[:, j]
        count[i, :] += count[j, :]
        count[:, i] += count[:, j]
        members[i] += members[j]
        alive[j] = False
    return {keys[m]: keys[min(group)] for group, live in zip(members, alive, strict=True) if live for m in group}


def _is_bool(column: pd.Series) -> bool:
    """A bool dtype, or Python/numpy bools in an object column; 1/0 or "yes" are refused, not guessed."""
    if pd.api.types.is_bool_dtype(column):
        return True
    return column.dtype == object and all(isinstance(v, bool | np.bool_) for v in column)


def _pairs(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each answer's pair number and the pairs (``PAIR_KEY`` columns) in sorted order."""
    pair_of = frame.groupby(PAIR_KEY, sort=True).ngroup().to_numpy()
    first = np.r_[True, pair_of[1:] != pair_of[:-1]]  # ``validated`` sorted the answers by pair
    return pair_of, frame.loc[first, PAIR_KEY].reset_index(drop=True)


def _vote_share(pair_of: np.ndarray, votes: np.ndarray, n_pairs: int) -> np.ndarray:
    return np.bincount(pair_of, weights=votes.astype(float), minlength=n_pairs) / np.bincount(pair_of,
                                                                                              minlength=n_pairs)


def _pair_table(pairs: pd.DataFrame, frame: pd.DataFrame, pair_of: np.ndarray, posterior: np.ndarray
                ) -> pd.DataFrame:
    n = len(pairs)
    n_answers = np.bincount(pair_of, minlength=n)
    n_match = np.bincount(pair_of, weights=frame["is_match"].to_numpy(dtype=float), minlength=n).astype(np.int64)
    is_match = posterior > 0.5
    agreeing = np.where(is_match, n_match, n_answers - n_match)
    table = pairs.assign(posterior=posterior, is_match=is_match, n_answers=n_answers, n_match_votes=n_match,
                         agreement=agreeing / n_answers)
    return table[PAIR_COLUMNS]


def _m_step(posterior: np.ndarray, pair_of: np.ndarray, labeler_of: np.ndarray, votes: np.ndarray,
            n_labelers: int, prior: LabelerPrior) -> tuple[np.ndarray, np.ndarray, float]:
    """Smoothed sensitivity and specificity per labeler, and the share of matches, from soft counts."""
    t = posterior[pair_of]  # each answer's pair's P(match)
    said_match_on_match = np.bincount(labeler_of, weights=t * votes, minlength=n_labelers)
    on_match = np.bincount(labeler_of, weights=t, minlength=n_labelers)
    said_non_on_non = np.bincount(labeler_of, weights=(1 - t) * (1 - votes), minlength=n_labelers)
    on_non = np.bincount(labeler_of, weights=1 - t, minlength=n_labelers)
    pseudo = prior.correct + prior.wrong
    sens = (said_match_on_match + prior.correct) / (on_match + pseudo)
    spec = (said_non_on_non + prior.correct) / (on_non + pseudo)
    match_prior = (posterior.sum() + prior.class_pseudo) / (len(posterior) + 2 * prior.class_pseudo)
    return sens, spec, float(match_prior)


def _e_step(sens: np.ndarray, spec: np.ndarray, match_prior: float, pair_of: np.ndarray, labeler_of: np.ndarray,
            votes: np.ndarray, n_pairs: int) -> np.ndarray:
    """Each pair's P(match | its answers): the prior's log-odds plus each answer's log-likelihood ratio."""
    match_ratio = np.log(sens) - np.log(1 - spec)  # an answer "match"
    non_ratio = np.log(1 - sens) - np.log(spec)  # an answer "non-match"
    per_answer = np.where(votes > 0.5, match_ratio[labeler_of], non_ratio[labeler_of])
    log_odds = np.log(match_prior) - np.log(1 - match_prior) + np.bincount(pair_of, weights=per_answer,
                                                                           minlength=n_pairs)
    return 1.0 / (1.0 + np.exp(-log_odds))


def _labelers_estimated(names: pd.Index, labeler_of: np.ndarray, pair_of: np.ndarray, votes: np.ndarray,
                        posterior: np.ndarray, sens: np.ndarray, spec: np.ndarray, prior: LabelerPrior
                        ) -> pd.DataFrame:
    """Accuracy: the expected share of right answers, with the prior's pseudo-answers (so never 1.0)."""
    n = len(names)
    t = posterior[pair_of]
    right = np.bincount(labeler_of, weights=t * votes + (1 - t) * (1 - votes), minlength=n)
    count = np.bincount(labeler_of, minlength=n)
    accuracy = (right + 2 * prior.correct) / (count + 2 * (prior.correct + prior.wrong))
    return pd.DataFrame({"labeler": names.to_numpy(dtype=object), "n_answers": count, "accuracy": accuracy,
                         "sensitivity": sens, "specificity": spec})[LABELER_COLUMNS]


def _labelers_against(frame: pd.DataFrame, pair_of: np.ndarray, consensus: np.ndarray) -> pd.DataFrame:
    """Each labeler's raw agreement with the consensus (no smoothing: a measurement, not an estimate)."""
    truth = consensus[pair_of]
    votes = frame["is_match"].to_numpy(dtype=bool)
    measured = pd.DataFrame({"labeler": frame["labeler"], "right": votes == truth,
                             "tp": votes & truth, "pos": truth, "tn": ~votes & ~truth, "neg": ~truth})
    sums = measured.groupby("labeler", sort=True).agg(["sum", "count"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "labeler": sums.index.to_numpy(dtype=object),
            "n_answers": sums[("right", "count")].to_numpy(),
            "accuracy": sums[("right", "sum")].to_numpy() / sums[("right", "count")].to_numpy(),
            "sensitivity": sums[("tp", "sum")].to_numpy() / sums[("pos", "sum")].to_numpy(),
            "specificity": sums[("tn", "sum")].to_numpy() / sums[("neg", "sum")].to_numpy(),
        })[LABELER_COLUMNS]
