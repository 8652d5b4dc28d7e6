"""Candidate generation: which record pairs are worth scoring.

Two kinds of passes, unioned:

* key rules: records sharing the value of one blocking key, or of a conjunction of two keys from different
  columns. Rules are chosen automatically by cost: the number of pairs a rule yields is known exactly before
  any pair is built (sum of n*(n-1)/2 over its blocks), so the cheapest, most selective rules are taken first
  until the pair budget is spent. Inside blocks larger than ``max_block_size`` (a surname shared by
  5,000 people says little, but so does an entity of 300 records) not every pair is built: the block's records
  are sorted by the other columns and each is paired with those of its next ``window`` neighbours that agree
  with it on two of them, so a large entity stays connected at a cost linear in its size (clustering then
  completes large components).
* TF-IDF neighbours for free-text columns (titles, descriptions): each record's top-k most similar records
  by cosine over its rarer tokens.

``accuracy_cost_tradeoff`` (a in [0, 1]) widens the search; see ``BlockingBudget.from_tradeoff``.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from matcher.chosen_pairs import ChosenPairs, columns_agreeing
from matcher.progress import Progress
from matcher.table import PreparedTable

TFIDF_MAX_ROWS = 300_000


@dataclass(frozen=True)
class BlockingBudget:
    max_block_size: int
    rule_pairs: int  # a rule yielding more pairs than this is skipped
    total_pairs: int  # stop adding rules past this many candidate pairs
    neighbours: int  # top-k TF-IDF neighbours per record
    window: int  # sorted neighbours per record inside a block larger than max_block_size

    @classmethod
    def from_tradeoff(cls, a: float, n: int) -> BlockingBudget:
        """a=0: blocks <= 20, 4n pairs in all, 3 neighbours, window 2; a=0.5: 60, 14.5n, 10, 4; a=1: 100, 25n,
        17, 6.

        Small inputs get a floor of 50k-250k pairs: below ~700 records that covers every pair.
        """
        floor = int(50_000 + 200_000 * a)
        return cls(
            max_block_size=int(round(20 + 80 * a)),
            rule_pairs=max(int(n * (2 + 6 * a)), floor),
            total_pairs=max(int(n * (4 + 21 * a)), floor),
            neighbours=int(round(3 + 14 * a)),
            window=int(round(2 + 4 * a)),
        )


@dataclass
class RuleReport:
    keys: tuple[str, ...]
    pairs: int  # pairs the rule yields (window pairs of its large blocks included)
    dropped_blocks: int  # blocks larger than max_block_size: windowed, not paired in full
    used: bool
    supported: bool = False  # used past the budget, for its pairs agreeing on more columns (``_support_pass``)


def _block_sizes(codes: np.ndarray) -> np.ndarray:
    valid = codes[codes >= 0]
    return np.bincount(valid) if len(valid) else np.zeros(0, dtype=np.int64)


def rule_cost(codes: np.ndarray, max_block: int, window: int = 0) -> tuple[int, int, int]:
    """(pairs the rule yields, records it covers, blocks too large to pair in full), without building a pair.

    With ``window`` > 0, the records of a too-large block count as covered and yield their window pairs."""
    sizes = _block_sizes(codes)
    kept = sizes[(sizes >= 2) & (sizes <= max_block)]
    big = sizes[sizes > max_block]
    pairs, covered = int((kept * (kept - 1) // 2).sum()), int(kept.sum())
    if window > 0 and len(big):
        pairs += int((window * big - window * (window + 1) // 2).sum())
        covered += int(big.sum())
    return pairs, covered, len(big)


def block_pairs(codes: np.ndarray, max_block: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j by position in sorted order) of records sharing a code, in blocks of 2..max_block."""
    idx = np.flatnonzero(codes >= 0)
    order = idx[np.argsort(codes[idx], kind="stable")]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else idx[:0]
    sizes = np.diff(np.r_[starts, len(order)])
    sizes = np.where((sizes >= 2) & (sizes <= max_block), sizes, 0)
    pos = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    counts = np.maximum(np.repeat(sizes, np.diff(np.r_[starts, len(order)])) - 1 - pos, 0)
    total = int(counts.sum())
    first = np.cumsum(counts) - counts
    left_pos = np.repeat(np.arange(len(order)), counts)
    right_pos = left_pos + 1 + (np.arange(total) - np.repeat(first, counts))
    return order[left_pos], order[right_pos]


def window_pairs(codes: np.ndarray, max_block: int, order_by: list[np.ndarray],
                 window: int) -> tuple[np.ndarray, np.ndarray]:
    """Inside each block larger than ``max_block``: records sorted by ``order_by`` (the first array first), each
    paired with those of its next ``window`` records in the same block that agree with it on two ``order_by``
    arrays (equal codes, not missing; one if there is only one). Linear in the block's size: a run of records
    agreeing on the sort keys (one large entity) comes out as a chain, which clustering completes, while
    namesakes who share one birth year are not paired (2,000 Thomases would otherwise chain into one)."""
    sizes = _block_sizes(codes)
    big = np.flatnonzero(sizes > max_block)
    if window < 1 or not len(big) or not order_by:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    idx = np.flatnonzero(np.isin(codes, big))
    order = idx[np.lexsort([o[idx] for o in reversed(order_by)] + [codes[idx]])]
    sorted_codes = codes[order]
    left, right = [], []
    for k in range(1, window + 1):
        a, b = order[:-k], order[k:]
        keep = sorted_codes[:-k] == sorted_codes[k:]
        agree = np.zeros(len(a), dtype=np.int8)
        for o in order_by:
            agree += (o[a] == o[b]) & (o[a] >= 0)
        keep &= agree >= min(2, len(order_by))
        left.append(a[keep])
        right.append(b[keep])
    return np.concatenate(left), np.concatenate(right)


def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of the conjunction of two keys; -1 where either is missing."""
    both = (a >= 0) & (b >= 0)
    combined = np.where(both, a * (int(b.max()) + 1) + b, -1)
    codes, _ = pd.factorize(combined[both])
    out = np.full(len(a), -1, dtype=np.int64)
    out[both] = codes
    return out


def encode(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    keep = lo != hi
    return lo[keep].astype(np.int64) * n + hi[keep]


def decode(pair_ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    return pair_ids // n, pair_ids % n


def _candidate_rules(table: PreparedTable) -> list[tuple[str, ...]]:
    """Every single key, then every conjunction of two keys from different columns."""
    singles: list[tuple[str, ...]] = [(k,) for k in table.keys]
    column_of = {k: k.split("~", 1)[0] for k in table.keys}
    doubles = [(a, b) for a, b in itertools.combinations(table.keys, 2) if column_of[a] != column_of[b]]
    return singles + doubles


def _rule_codes(table: PreparedTable, rule: tuple[str, ...]) -> np.ndarray:
    codes = table.keys[rule[0]]
    for key in rule[1:]:
        codes = combine(codes, table.keys[key])
    return codes


def _sort_columns(table: PreparedTable, rule: tuple[str, ...], max_block: int,
                  determines: _Determination) -> list[str]:
    """The columns that order (and vouch for) window pairs inside the rule's too-large blocks, most distinct
    values first: not the rule's own columns, not those with too few values to tell records apart (gender),
    and not a column another one determines (a full name determines the first name: agreeing on both is one
    fact, and counting it twice chained namesakes)."""
    own = [key.split("~", 1)[0] for key in rule]
    chosen: list[str] = []
    for col in sorted(table.codes, key=lambda c: -len(table.uniques[c])):
        if col in own or len(table.uniques[col]) < max_block:
            continue
        if any(determines(other, col) for other in own + chosen):
            continue
        chosen.append(col)
    return chosen


class _Determination:
    """Whether one column's value fixes another's (a full name fixes the first name), read off the values
    shared by at least FREQUENT records: at least MANY such values, with at most 10% more distinct pairs of
    values than values. One large entity (every column constant over its records) is one value, not many, so
    it does not make its columns look derived. Cached: rules ask about the same few columns."""

    FREQUENT, MANY = 5, 20

    def __init__(self, table: PreparedTable) -> None:
        self.table = table
        self.cache: dict[tuple[str, str], bool] = {}

    def __call__(self, a: str, b: str) -> bool:
        if (a, b) not in self.cache:
            self.cache[(a, b)] = self._determines(self.table.codes[a], self.table.codes[b],
                                                  len(self.table.uniques[b]))
        return self.cache[(a, b)]

    def _determines(self, ca: np.ndarray, cb: np.ndarray, b_values: int) -> bool:
        both = (ca >= 0) & (cb >= 0)
        ca, cb = ca[both], cb[both]
        counts = np.bincount(ca) if len(ca) else np.zeros(0, dtype=np.int64)
        frequent = counts[ca] >= self.FREQUENT
        values = int((counts >= self.FREQUENT).sum())
        if values < self.MANY:
            return False
        # a hash count: np.unique sorts, ~0.7 s per column pair at 1M rows
        return len(pd.unique(ca[frequent] * b_values + cb[frequent])) <= 1.1 * values


def _cross_source(pair_ids: np.ndarray, table: PreparedTable) -> np.ndarray:
    if table.source is None:
        return pair_ids
    left, right = decode(pair_ids, table.n)
    return pair_ids[table.source[left] != table.source[right]]


class Blocker:
    """Chooses blocking rules for one dataset and yields its candidate pairs.

    Fitted state: ``rules_`` (a report per rule considered), ``pair_ids_`` (sorted unique i*n+j, i<j),
    ``neighbour_pairs_`` (how many pairs the TF-IDF pass added).
    """

    def __init__(self, accuracy_cost_tradeoff: float = 0.5) -> None:
        self.accuracy_cost_tradeoff = accuracy_cost_tradeoff

    def fit(self, table: PreparedTable, progress: Progress | None = None) -> Blocker:
        budget = BlockingBudget.from_tradeoff(self.accuracy_cost_tradeoff, table.n)
        self.budget_ = budget
        self._add_neighbours(table, budget, self._rule_pass(table, budget, progress))
        return self

    @classmethod
    def from_rules(cls, accuracy_cost_tradeoff: float, rules: list[RuleReport], table: PreparedTable) -> Blocker:
        """A blocker yielding ``table``'s candidates by rules chosen on another fit (a saved model): the rules used
        there are used here whatever they cost on this data (a rule whose key this data lacks is skipped: e.g. a
        name column's sorted-tokens key exists only where names have several words), then the TF-IDF pass runs
        as in ``fit``. On the data of that fit it yields the same pairs."""
        blocker = cls(accuracy_cost_tradeoff)
        budget = blocker.budget_ = BlockingBudget.from_tradeoff(accuracy_cost_tradeoff, table.n)
        determines = _Determination(table)
        blocker.rules_, chunks = [], []
        for rule in rules:
            if not rule.used or not all(key in table.keys for key in rule.keys):
                blocker.rules_.append(RuleReport(rule.keys, rule.pairs, rule.dropped_blocks, False))
                continue
            codes = _rule_codes(table, rule.keys)
            pairs, _, dropped = rule_cost(codes, budget.max_block_size, budget.window)
            blocker.rules_.append(RuleReport(rule.keys, pairs, dropped, True, rule.supported))
            build = cls._supported_pairs if rule.supported else cls._rule_pairs
            chunks.append(_cross_source(build(table, rule.keys, codes, budget, determines), table))
        blocker._add_neighbours(table, budget, np.unique(np.concatenate(chunks)) if chunks else
                                np.zeros(0, dtype=np.int64))
        return blocker

    def _add_neighbours(self, table: PreparedTable, budget: BlockingBudget, pair_ids: np.ndarray) -> None:
        """The candidates: the rules' pairs plus the TF-IDF neighbours, cross-source only in linkage."""
        before = len(pair_ids)
        neighbours = self._neighbour_pass(table, budget)
        pair_ids = _cross_source(np.unique(np.concatenate([pair_ids, neighbours])), table)
        self.neighbour_pairs_ = len(pair_ids) - before
        self.pair_ids_ = self._reach_isolated(table, budget, pair_ids)

    def _reach_isolated(self, table: PreparedTable, budget: BlockingBudget, pair_ids: np.ndarray) -> np.ndarray:
        """``pair_ids`` plus partners for the records in none of them (``matcher.isolated``), by every rule
        considered, in the order they were costed; their codes are built one rule at a time (a generator)."""
        from matcher.isolated import partners_of_isolated

        codes = (_rule_codes(table, r.keys) for r in self.rules_ if all(k in table.keys for k in r.keys))
        added = partners_of_isolated(codes, pair_ids, table.source, budget.max_block_size, budget.neighbours)
        self.isolated_ids_ = np.setdiff1d(added, pair_ids, assume_unique=True)
        self.isolated_pairs_ = len(self.isolated_ids_)
        return np.union1d(pair_ids, self.isolated_ids_)

    def touching(self, rows: np.ndarray) -> Blocker:
        """This blocker with only the candidate pairs holding at least one of ``rows`` (a boolean mask)."""
        left, right = decode(self.pair_ids_, len(rows))
        out = copy.copy(self)
        out.pair_ids_ = self.pair_ids_[rows[left] | rows[right]]
        return out

    def without_within(self, group: np.ndarray) -> Blocker:
        """This blocker without the candidate pairs inside one group (``group``: a number per row, -1 for none)."""
        left, right = decode(self.pair_ids_, len(group))
        out = copy.copy(self)
        out.pair_ids_ = self.pair_ids_[(group[left] != group[right]) | (group[left] < 0)]
        return out

    @property
    def n_pairs_(self) -> int:
        return len(self.pair_ids_)

    def _rule_pass(self, table: PreparedTable, budget: BlockingBudget, progress: Progress | None) -> np.ndarray:
        rules = _candidate_rules(table)
        costed = []
        for i, rule in enumerate(rules):
            codes = _rule_codes(table, rule)
            pairs, covered, dropped = rule_cost(codes, budget.max_block_size, budget.window)
            costed.append((pairs / max(covered, 1), pairs, rule, codes, dropped))
            if progress:
                progress.update(0.5 * (i + 1) / len(rules))
        # most selective first: fewest pairs per record covered (small blocks, so mostly true matches)
        costed.sort(key=lambda c: (c[0], c[1]))
        self.rules_: list[RuleReport] = []
        chunks: list[np.ndarray] = []
        total, complete_singles, determines = 0, set(), _Determination(table)
        for _, pairs, rule, codes, dropped in costed:
            redundant = any(key in complete_singles for key in rule) and len(rule) > 1
            use = 0 < pairs <= budget.rule_pairs and total + pairs <= budget.total_pairs and not redundant
            self.rules_.append(RuleReport(rule, pairs, dropped, use))
            if not use:
                continue
            total += pairs
            if len(rule) == 1 and dropped == 0:
                complete_singles.add(rule[0])
            chunks.append(_cross_source(self._rule_pairs(table, rule, codes, budget, determines), table))
            if sum(len(c) for c in chunks) > 4 * budget.total_pairs:
                chunks = [np.unique(np.concatenate(chunks))]
        chosen = np.unique(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)
        return self._support_pass(table, budget, costed, chosen, complete_singles, determines)

    def _support_pass(self, table: PreparedTable, budget: BlockingBudget, costed: list, chosen: np.ndarray,
                      complete_singles: set[str], determines: _Determination) -> np.ndarray:
        """The rules the budget left out, for their pairs whose records agree on two more columns.

        The budget above charges each rule its own pairs, and one column's keys come in near-copies (a name, its
        sorted tokens, its phonetic code; conjunctions with any of them) whose blocks hold the same records: on
        historical_figures_50k 18 rules spent 714,007 of a 733,381-pair budget on 111,343 distinct pairs, and
        surname & birth date or birth date & place never ran. 54% of the true pairs were never candidates, and
        97% of the pairs the output missed after 5 labeling rounds lay between two parts of one person that no
        candidate pair joined. Past the budget, a rule adds only its new pairs whose records also share a key of
        ``SUPPORT_COLUMNS`` columns of many values the rule's columns do not determine (``_sort_columns``, the
        window pairs' test): one candidate of that strength joins a stray part to its person (clustering scores
        the rest). With one such column, namesakes sharing a birth place and gender came in by the thousand and
        chained 2,342 Williams into one cluster (F1 0.75 -> 0.10 without labels). Charged by the distinct pairs
        added, against the same budget; rules copying a rule taken (``_near_copy``) are skipped unbuilt, and the
        pass builds at most ``SUPPORT_WORK`` budgets of pairs, past a quarter budget only while it pays
        (``ChosenPairs``)."""
        at = {r.keys: i for i, r in enumerate(self.rules_)}
        taken = [(pairs, rule) for _, pairs, rule, _, _ in costed if self.rules_[at[rule]].used]
        added = ChosenPairs(chosen, budget.total_pairs, SUPPORT_WORK * budget.total_pairs, budget.total_pairs // 4)
        for _, pairs, rule, codes, dropped in costed:
            redundant = any(key in complete_singles for key in rule) and len(rule) > 1
            if self.rules_[at[rule]].used or redundant or not 0 < pairs <= budget.rule_pairs:
                continue
            if not added.may_try(pairs) or _near_copy(table, codes, pairs, taken, budget):
                continue
            fresh = added.fresh(_cross_source(self._rule_pairs(table, rule, codes, budget, determines), table),
                                pairs)
            if added.add(fresh[_supported(table, fresh, rule, budget, determines)]):
                self.rules_[at[rule]] = RuleReport(rule, pairs, dropped, True, supported=True)
                taken.append((pairs, rule))
        return added.pair_ids

    @classmethod
    def _supported_pairs(cls, table: PreparedTable, rule: tuple[str, ...], codes: np.ndarray,
                         budget: BlockingBudget, determines: _Determination) -> np.ndarray:
        """A rule of ``_support_pass``'s pairs (the same pairs the pass added, on the data it ran on)."""
        pair_ids = cls._rule_pairs(table, rule, codes, budget, determines)
        return pair_ids[_supported(table, pair_ids, rule, budget, determines)]

    @staticmethod
    def _rule_pairs(table: PreparedTable, rule: tuple[str, ...], codes: np.ndarray, budget: BlockingBudget,
                    determines: _Determination) -> np.ndarray:
        paired = encode(*block_pairs(codes, budget.max_block_size), table.n)
        order_by = [table.codes[c] for c in _sort_columns(table, rule, budget.max_block_size, determines)]
        windowed = encode(*window_pairs(codes, budget.max_block_size, order_by, budget.window), table.n)
        return np.concatenate([paired, windowed])

    def _neighbour_pass(self, table: PreparedTable, budget: BlockingBudget) -> np.ndarray:
        if table.scale > TFIDF_MAX_ROWS:
            return np.zeros(0, dtype=np.int64)
        max_df = 5 * budget.max_block_size
        found = [tfidf_neighbours(m, budget.neighbours, table.source, max_df) for m in table.tfidf.values()]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


# a rule whose pair count is within this share of a rule already taken may be a copy of it (same blocks) ...
# columns of many values (besides a rule's own) whose agreement lets a pair in past the budget (``_support_pass``)
SUPPORT_COLUMNS = 2
# the pairs that pass may build, in budgets: building is its cost, and most pairs it builds are candidates already
SUPPORT_WORK = 2
COPY_COUNT_SHARE = 0.05
# ... and is one when this share of its pairs lie in that rule's blocks too: it would add almost nothing
COPY_OVERLAP = 0.95


def _near_copy(table: PreparedTable, codes: np.ndarray, pairs: int, taken: list[tuple[int, tuple[str, ...]]],
               budget: BlockingBudget) -> bool:
    """Whether the rule with ``codes`` (yielding ``pairs``) blocks the same records as a rule already taken: a
    name and its sorted tokens, its phonetic code, a full name with or without its first name. Such copies have
    nearly the same pair count, so only those rules are compared, by the pairs of the two rules' conjunction
    (blocks of both), counted without building a pair."""
    for other_pairs, other in taken:
        if abs(other_pairs - pairs) > COPY_COUNT_SHARE * max(pairs, other_pairs):
            continue
        both, _, _ = rule_cost(combine(codes, _rule_codes(table, other)), budget.max_block_size, budget.window)
        if both >= COPY_OVERLAP * pairs:
            return True
    return False


def _supported(table: PreparedTable, pair_ids: np.ndarray, rule: tuple[str, ...], budget: BlockingBudget,
               determines: _Determination) -> np.ndarray:
    """Which pairs share a blocking key (a value, its phonetic code, its sorted tokens) of at least
    ``SUPPORT_COLUMNS`` of the rule's ``_sort_columns``: a spelling variant of a surname still vouches."""
    columns = _sort_columns(table, rule, budget.max_block_size, determines)
    return columns_agreeing(table.keys, columns, *decode(pair_ids, table.n)) >= SUPPORT_COLUMNS


def tfidf_neighbours(matrix: sparse.csr_matrix, k: int, source: np.ndarray | None, max_df: int,
                     max_df_share: float = 0.05, chunk: int = 2000) -> np.ndarray:
    """Top-k cosine neighbours per row over its rarer tokens, as pair ids.

    Tokens in more than ``max_df`` rows (or 5% of rows) are ignored: they cost df^2 products and
    separate little ('street', house numbers).
    """
    n = matrix.shape[0]
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    rare = sparse.diags((df <= max(2, min(max_df_share * n, max_df))).astype(np.float32))
    pruned = (matrix @ rare).tocsr()
    pruned.eliminate_zeros()
    transposed = pruned.T.tocsr()
    found = []
    for start in range(0, n, chunk):
        sims = (pruned[start:start + chunk] @ transposed).tocoo()
        rows, cols, vals = sims.row + start, sims.col, sims.data
        keep = (rows != cols) & (vals > 0.1)
        if source is not None:
            keep &= source[rows] != source[cols]
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((-vals, rows))
        rows, cols = rows[order], cols[order]
        first = np.searchsorted(rows, rows, side="left")
        top = (np.arange(len(rows)) - first) < k
        found.append(encode(rows[top], cols[top], n))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
