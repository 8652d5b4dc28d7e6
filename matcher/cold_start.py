"""Whether the unsupervised model's matches can be trusted: warnings in words, with their evidence.

Fellegi-Sunter fitted by EM always converges to *some* split of the candidate pairs into two classes; on
data nobody tuned for, that split is not always "same entity or not" (a town's residents, a household, a
firm, everyone born on one day). The model cannot tell, but a few symptoms can be read off the fit:

* half or more of the candidate pairs called matches: blocking proposes pairs that look alike, and real
  duplicates are rarely most of them, so a class that large is usually a shared attribute;
* EM that did not settle within its iterations;
* many candidates left undecided (scored between 0.05 and 0.95): the classes overlap;
* most links resting on one column alone: the match class is "agrees on that column";
* no link at all.

Each symptom is one sentence with its figures; any of them means: label a round before trusting the matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from matcher.features import PairFeatures
from matcher.fs import FellegiSunter

if TYPE_CHECKING:
    from matcher.fitted import FittedMatcher

MAX_MATCH_SHARE = 0.5
MAX_UNDECIDED = 0.2
MAX_ONE_COLUMN = 0.5
SAMPLE = 200_000
UNSETTLED = "its estimation did not settle"
ADVICE = "the unsupervised model found no reliable identity signal: label a round before trusting these matches"


def choose_cold_start(candidates: PairFeatures, random_pairs: PairFeatures, start: np.ndarray | None = None
                      ) -> tuple[FellegiSunter, np.ndarray, dict[str, Any]]:
    """``_choose``, the choice also naming the columns counted given another (``matcher.fs_tree``): what
    groups share or what repeats another column, e.g. ``{"phone": "address"}``. ``start``: a previous
    fit's posterior per candidate, to start EM from (``FellegiSunter.fit``)."""
    fs, prob, choice = _choose(candidates, random_pairs, start)
    choice["conditioned"] = {c: p for c, p in fs.parent_.items() if p is not None}
    return fs, prob, dict(sorted(choice.items()))  # in the order a saved model's manifest keeps it


def _choose(candidates: PairFeatures, random_pairs: PairFeatures, start: np.ndarray | None
            ) -> tuple[FellegiSunter, np.ndarray, dict[str, Any]]:
    """The Fellegi-Sunter model, its probability of every candidate, and how it was chosen.

    The default learns u among the candidates (robust where blocking makes a column agree among most
    candidates); when that fit shows symptoms, the classic set-up (u from random pairs, the prior over all
    record pairs) is fitted too and kept if it shows none: two starts, chosen by plausibility, not by a
    benchmark (RLdata10000: the default took "same birth month" for the match class)."""
    fs = FellegiSunter().fit(candidates, random_pairs, start=start)
    prob = fs.predict_proba(candidates)
    found = symptoms(fs, prob, candidates)
    choice: dict[str, Any] = {"model": "u among candidates", "symptoms": found}
    if all(s.startswith(UNSETTLED) for s in found):  # slow convergence alone says nothing of the split found
        return fs, prob, choice
    alternative = FellegiSunter(prior="random").fit(candidates, random_pairs, start=start)
    alt_prob = alternative.predict_proba(candidates)
    alt_found = symptoms(alternative, alt_prob, candidates)
    choice["alternative"] = {"model": "u from random pairs", "symptoms": alt_found}
    if not alt_found:  # a model with symptoms of its own is no better evidence, whatever their count
        return alternative, alt_prob, {"model": "u from random pairs", "symptoms": alt_found,
                                       "alternative": {"model": "u among candidates", "symptoms": found}}
    return fs, prob, choice


def warning(symptoms: list[str]) -> str | None:
    """One sentence for users: the advice, then every symptom; None when there is none."""
    return f"{ADVICE} ({'; '.join(symptoms)})" if symptoms else None


def diagnose(matcher: FittedMatcher) -> list[str]:
    """Symptoms of an unreliable cold start (an empty list when none shows), each with its evidence."""
    return symptoms(matcher.fs_, matcher.fs_prob_, matcher.candidates_)


def symptoms(fs: FellegiSunter, prob: np.ndarray, candidates: PairFeatures) -> list[str]:
    """The symptoms of one fitted model ``fs`` whose probability of each candidate is ``prob``."""
    if candidates.outside_rules is not None:  # read on the pairs EM learnt from, as without them
        inside = ~candidates.outside_rules
        candidates, prob = candidates.subset(inside, sims=False), prob[inside]  # the model reads no similarity
        candidates.outside_rules = None
    n = len(prob)
    found = []
    if n and fs.lambda_ >= MAX_MATCH_SHARE:
        found.append(f"it calls {fs.lambda_:.0%} of the {n:,} candidate pairs matches (at most "
                     f"{MAX_MATCH_SHARE:.0%} is plausible): agreement on something groups share (an address, a "
                     "town, a firm, a shared id) may have been taken for identity")
    if fs.n_iter_ >= fs.max_iter:
        found.append(f"{UNSETTLED} in {fs.max_iter} iterations")
    if n and not (prob >= 0.5).any():
        found.append(f"it links none of the {n:,} candidate pairs")
    undecided = float(((prob > 0.05) & (prob < 0.95)).mean()) if n else 0.0
    if undecided > MAX_UNDECIDED:
        found.append(f"it leaves {undecided:.0%} of the candidate pairs undecided (between 0.05 and 0.95)")
    column, share = _one_column(fs, prob, candidates)
    comparable = sum(bool((levels >= 0).any()) for levels in candidates.levels.values())
    if column is not None and share > MAX_ONE_COLUMN and comparable > 1:  # one column: nothing else to rest on
        found.append(f"{share:.0%} of its links rest on '{column}' alone (without it they fall below 0.5)")
    return found


def _one_column(fs: FellegiSunter, prob: np.ndarray, candidates: PairFeatures) -> tuple[str | None, float]:
    """The column most links would be lost without, and the share of links lost."""
    linked = np.flatnonzero(prob >= 0.5)
    if len(linked) == 0:
        return None, 0.0
    if len(linked) > SAMPLE:
        linked = np.sort(np.random.default_rng(0).choice(linked, SAMPLE, replace=False))
    features = candidates.subset(linked, sims=False)
    total = fs.match_weight(features)
    lost = {c: float((total - w < 0).mean()) for c, w in fs.column_weights(features).items()}
    column = max(lost, key=lambda c: lost[c])
    return column, lost[column]
