"""Group keys: blocking rules whose blocks mostly hold different identities.

A household's phone, a shared patent id or a company's address is a key people share: its blocks are small, so
blocking takes it for a selective key, and agreeing on it looks like strong evidence of identity. Whether a rule
is such a *group key* is read off the cold-start model once it is fitted: each pair in the rule's blocks is
judged by the evidence of every column but the rule's own, their Bayes factor without the prior (the rule that
proposed a pair is not itself evidence that the pair is one identity; a column conditioned on the rule's column
keeps only what it adds beyond it). A rule is a group key when more than half of its pairs come out as different
identities on that evidence; pairs on which the other columns say nothing are not counted.

The judgement is reported (``--stats-output`` ``group_keys``, with the evidence), it does not change the
candidates or the scores: the candidates are proposed before any model exists, and the model already weighs a
group column's agreement given the column it is redundant with (``matcher.fs_tree``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from matcher.blocking import RuleReport

if TYPE_CHECKING:
    from matcher.features import PairFeatures
    from matcher.fs import FellegiSunter
    from matcher.prepare import PreparedTable

# A rule is a group key when MORE THAN THIS SHARE of the candidate pairs in its blocks are different identities on
# the evidence of the other columns: "its blocks mostly hold different people".
GROUP_SHARE = 0.5
# Fewer pairs than this say too little to judge a rule (a share of 3 pairs out of 5 is noise).
MIN_PAIRS = 30
# The rules are judged on a sample of this many candidate pairs at most (a share needs no more): at 1M records
# judging every candidate would cost a second scoring pass.
SAMPLE_PAIRS = 500_000


@dataclass(frozen=True)
class GroupKey:
    """A rule judged a group key, with its evidence."""

    rule: tuple[str, ...]
    pairs: int  # candidate pairs in its blocks (of the sample) on which the other columns say something
    different_share: float  # share of them the other columns call different identities

    def to_dict(self) -> dict[str, Any]:
        return {"rule": " & ".join(self.rule), "pairs_judged": self.pairs,
                "different_identities": round(self.different_share, 4)}


def column_of(key: str) -> str:
    """The data column a blocking key is made from ('first_name~phonetic' -> 'first_name')."""
    return key.split("~", 1)[0]


def judge_rules(table: PreparedTable, rules: list[RuleReport], candidates: PairFeatures, model: FellegiSunter,
                seed: int = 0, share: float = GROUP_SHARE) -> list[GroupKey]:
    """The used rules whose candidate pairs mostly hold different identities, most different first."""
    used = [rule.keys for rule in rules if rule.used]
    if not used or not len(candidates):
        return []
    sample = candidates
    if len(candidates) > SAMPLE_PAIRS:
        rows = np.sort(np.random.default_rng(seed).choice(len(candidates), SAMPLE_PAIRS, replace=False))
        sample = candidates.subset(rows)
    weights = model.column_weights(sample)
    total = sum(weights.values(), np.zeros(len(sample)))
    agrees: dict[str, np.ndarray] = {}  # per key: whether each sampled pair shares its value (rules share keys)
    found = []
    for rule in used:
        for key in rule:
            if key not in agrees:
                codes = table.keys[key]
                agrees[key] = (codes[sample.left] == codes[sample.right]) & (codes[sample.left] >= 0)
        inside = np.flatnonzero(np.logical_and.reduce([agrees[key] for key in rule]))
        own = {column_of(key) for key in rule}
        # the other columns' Bayes factor, without the prior: their evidence for or against one identity, not
        # how rare matches are among candidates (a prior alone would call every pair of a rule "different"
        # wherever the other columns say little: a single-column table, titles beside a year)
        evidence = total[inside] - sum((weights[c][inside] for c in own if c in weights), np.zeros(len(inside)))
        said = evidence[evidence != 0]  # pairs whose other columns are all missing (or weigh nothing) say nothing
        if len(said) < MIN_PAIRS:
            continue
        different = float((said < 0).mean())
        if different > share:
            found.append(GroupKey(rule, len(said), different))
    return sorted(found, key=lambda g: (-g.different_share, g.rule))
