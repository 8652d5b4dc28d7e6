"""From scored pairs to entities: constrained average-linkage clustering inside connected components.

Bare connected components chain unrelated records through one bad edge (A~B, B~C, so A~C). Here a component
only seeds the search; inside it, clusters merge while their *average* pair probability stays above the
threshold, never past ``max_cluster_size`` (no cap unless the user sets one), and never across a cannot-link.
Components of up to ``COMPLETE_MAX`` records have every pair scored (pairs never scored count as 0); larger
ones, an entity of thousands of records among them, get ``COMPLETE_SAMPLE`` random partners per record scored.
Between two clusters, the pairs neither blocking nor completion scored then count at the mean of the random
partners drawn between them (0 when none was drawn): an unbiased estimate of the average where the sample
reaches, the old rule where it does not, so the cost stays linear in the component's size and a chain of
weak links still shows as a low average between its ends.
Must-links are merged before anything else. For two-table linkage of duplicate-free tables, ``one_to_one``
keeps the best link per record instead (greedy maximum-weight matching).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

# average linkage over a component this large runs on ever stricter links first (its cost, not its evidence)
GIANT_COMPONENT = 20_000


@dataclass
class Constraints:
    """Pairs of row positions that must / must not end in the same cluster."""

    must: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0, int), np.zeros(0, int)))
    cannot: tuple[np.ndarray, np.ndarray] = field(default_factory=lambda: (np.zeros(0, int), np.zeros(0, int)))


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    graph = sparse.coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


class _Agglomeration:
    """Average linkage over the clusters of one component, honouring cannot-links and a size cap."""

    def __init__(self, groups: dict[int, list[int]]) -> None:
        self.members = groups  # cluster id -> local member indices
        self.weight: dict[int, dict[int, float]] = {g: {} for g in groups}
        # between two clusters: [pairs scored, of them random draws, probability summed over those draws]
        self.drawn: dict[int, dict[int, list[float]]] = {g: {} for g in groups}
        self.forbidden: dict[int, set[int]] = {g: set() for g in groups}

    def size(self, g: int) -> int:
        return len(self.members[g])

    def add_edge(self, a: int, b: int, p: float, drawn: bool = False) -> None:
        if a != b:
            self.weight[a][b] = self.weight[a].get(b, 0.0) + p
            self.weight[b][a] = self.weight[b].get(a, 0.0) + p
            tally = self.drawn[a].setdefault(b, [0.0, 0.0, 0.0])
            tally[0] += 1
            tally[1] += drawn
            tally[2] += p if drawn else 0.0
            self.drawn[b][a] = tally

    def forbid(self, a: int, b: int) -> None:
        self.forbidden[a].add(b)
        self.forbidden[b].add(a)

    def average(self, a: int, b: int) -> float:
        pairs = self.size(a) * self.size(b)
        total = self.weight[a].get(b, 0.0)
        tally = self.drawn[a].get(b)
        if tally is not None and tally[1] > 0:  # unscored pairs at what the random draws show for sure
            total += (pairs - tally[0]) * _lower_bound(tally[2] / tally[1], tally[1])
        return total / pairs

    def run(self, threshold: float, max_size: int) -> None:
        # only pairs at or above the threshold enter the heap: the loop would stop at the first one below it,
        # so the merges are the same, and a large component's heap holds a fraction of its cluster pairs
        heap = [(-avg, a, b) for a in self.weight for b in self.weight[a]
                if a < b and (avg := self.average(a, b)) >= threshold]
        heapq.heapify(heap)
        while heap:
            neg_avg, a, b = heapq.heappop(heap)
            if a not in self.members or b not in self.members or abs(self.average(a, b) + neg_avg) > 1e-12:
                continue  # stale entry: one side was merged since it was pushed
            if b in self.forbidden[a] or self.size(a) + self.size(b) > max_size:
                continue
            self._merge(a, b)
            for c in self.weight[a]:
                avg = self.average(a, c)
                if avg >= threshold:
                    heapq.heappush(heap, (-avg, min(a, c), max(a, c)))

    def _merge(self, a: int, b: int) -> None:
        for c, w in self.weight.pop(b).items():
            self.weight[c].pop(b, None)
            if c != a:
                self.weight[a][c] = self.weight[a].get(c, 0.0) + w
                self.weight[c][a] = self.weight[c].get(a, 0.0) + w
        self.weight[a].pop(b, None)
        for c, tally in self.drawn.pop(b).items():
            self.drawn[c].pop(b, None)
            if c != a:
                mine = self.drawn[a].setdefault(c, [0.0, 0.0, 0.0])
                mine[:] = [x + y for x, y in zip(mine, tally, strict=True)]
                self.drawn[c][a] = mine
        self.drawn[a].pop(b, None)
        for c in self.forbidden.pop(b):
            self.forbidden[c].discard(b)
            if c != a:
                self.forbid(a, c)
        self.members[a].extend(self.members.pop(b))


def _lower_bound(mean: float, draws: float, z: float = 1.96) -> float:
    """Wilson's 95% lower bound of a rate seen as ``mean`` over ``draws`` draws: a few draws between two
    clusters vouch for little (their unscored pairs count near 0, as unscored pairs always did), hundreds
    between the parts of one large entity for nearly their mean."""
    centre = mean + z * z / (2 * draws)
    spread = z * math.sqrt(max(mean * (1 - mean), 0.0) / draws + z * z / (4 * draws * draws))
    return max((centre - spread) / (1 + z * z / draws), 0.0)


def average_linkage(members: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray,
                    constraints: Constraints, threshold: float, max_size: int | None,
                    drawn: np.ndarray | None = None) -> np.ndarray:
    """Cluster one component given its edges (global row positions); returns a cluster label per member.
    ``drawn`` marks the edges that are random draws inside the component (``sampled_component_pairs``)."""
    local = {int(m): i for i, m in enumerate(members)}
    uf = _UnionFind(len(members))
    for a, b in zip(*constraints.must, strict=True):
        uf.union(local[int(a)], local[int(b)])
    group_of = np.array([uf.find(i) for i in range(len(members))])
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(group_of):
        groups.setdefault(int(g), []).append(i)
    agg = _Agglomeration(groups)
    drawn = np.zeros(len(left), dtype=bool) if drawn is None else drawn
    for a, b, p, d in zip(left, right, prob, drawn, strict=True):
        agg.add_edge(int(group_of[local[int(a)]]), int(group_of[local[int(b)]]), float(p), bool(d))
    for a, b in zip(*constraints.cannot, strict=True):
        ga, gb = int(group_of[local[int(a)]]), int(group_of[local[int(b)]])
        if ga != gb:
            agg.forbid(ga, gb)
    agg.run(threshold, max_size if max_size is not None else len(members))
    labels = np.empty(len(members), dtype=np.int64)
    for cluster, idx in agg.members.items():
        labels[idx] = cluster
    return labels


# cora's strongly linked groups of 52-99 records tangle several entities; completed, average linkage separates
# them (F1 0.861 -> 0.878 unsupervised); at most 4,950 more pairs scored per component
COMPLETE_MAX = 100
# random partners scored per record of a larger component: the sample its clusters' averages are taken on
COMPLETE_SAMPLE = 20


def missing_component_pairs(comp: np.ndarray, edge_ids: np.ndarray, seed: int = 0
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs inside components that were never scored (blocking missed them): every pair of a component of
    3..COMPLETE_MAX records, ``COMPLETE_SAMPLE`` random partners per record of a larger one; and whether
    each is such a random draw. ``edge_ids``: the scored pairs' ids (i*n+j, i<j), sorted."""
    from matcher.blocking import block_pairs, decode, encode

    n = len(comp)
    left, right = block_pairs(comp.astype(np.int64), COMPLETE_MAX)
    sl, sr = sampled_component_pairs(comp, COMPLETE_SAMPLE, seed)
    complete, drawn = np.unique(encode(left, right, n)), np.unique(encode(sl, sr, n))
    ids = np.r_[complete, drawn]  # apart: a small component's pairs never coincide with a large one's
    is_drawn = np.r_[np.zeros(len(complete), dtype=bool), np.ones(len(drawn), dtype=bool)]
    keep = ~in_sorted(ids, edge_ids)
    ml, mr = decode(ids[keep], n)
    return ml, mr, is_drawn[keep]


def in_sorted(values: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_ids)`` for sorted ``sorted_ids`` by binary search: np.isin sorts both arrays
    together, several int64 copies of millions of candidate pairs at 1M records."""
    if not len(sorted_ids):
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_ids, values)
    np.minimum(at, len(sorted_ids) - 1, out=at)
    return sorted_ids[at] == values


def sampled_component_pairs(comp: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each record of a component larger than COMPLETE_MAX with ``k`` partners drawn from its component
    (seeded; a pair may come twice or pair a record with itself: callers drop those)."""
    sizes = np.bincount(comp)
    rows = np.flatnonzero(sizes[comp] > COMPLETE_MAX)
    if len(rows) == 0:
        return rows, rows
    rows = rows[np.argsort(comp[rows], kind="stable")]
    starts = np.searchsorted(comp[rows], comp[rows], side="left")
    size = sizes[comp[rows]]
    rng = np.random.default_rng(seed)
    left = np.repeat(rows, k)
    offset = (rng.random(len(left)) * np.repeat(size, k)).astype(np.int64)
    right = rows[np.repeat(starts, k) + offset]
    return left, right


def _in_component_edges(comp: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray,
                        drawn: np.ndarray):
    inside = comp[left] == comp[right]
    left, right, prob, drawn = left[inside], right[inside], prob[inside], drawn[inside]
    order = np.argsort(comp[left], kind="stable")
    return left[order], right[order], prob[order], drawn[order]


def cluster(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray, threshold: float,
            constraints: Constraints | None = None, max_size: int | None = None,
            drawn: np.ndarray | None = None) -> np.ndarray:
    """Cluster label per record (an arbitrary int; equal labels = same entity). ``drawn`` marks the edges
    drawn at random inside large components (``missing_component_pairs``)."""
    constraints = constraints or Constraints()
    drawn = np.zeros(len(left), dtype=bool) if drawn is None else drawn
    strong = prob >= threshold
    comp = components(n, np.r_[left[strong], constraints.must[0]], np.r_[right[strong], constraints.must[1]])
    sizes = np.bincount(comp)
    labels = comp.copy()
    e_left, e_right, e_prob, e_drawn = _in_component_edges(comp, left, right, prob, drawn)
    must_l, must_r = constraints.must
    if len(must_l):
        e_left, e_right = np.r_[e_left, must_l], np.r_[e_right, must_r]
        e_prob, e_drawn = np.r_[e_prob, np.ones(len(must_l))], np.r_[e_drawn, np.zeros(len(must_l), dtype=bool)]
        e_left, e_right, e_prob, e_drawn = _in_component_edges(comp, e_left, e_right, e_prob, e_drawn)
    hard = _components_needing_linkage(comp, sizes, e_left, e_prob, threshold, constraints, max_size)
    starts = np.searchsorted(comp[e_left], hard, side="left")
    ends = np.searchsorted(comp[e_left], hard, side="right")
    members_of = _members_by_component(comp, hard)
    by_component = _constraints_by_component(constraints, comp)
    for c, lo, hi in zip(hard, starts, ends, strict=True):
        local = by_component.get(int(c), Constraints())
        for members, el, er, ep, ed in _split_giant(members_of[c], e_left[lo:hi], e_right[lo:hi], e_prob[lo:hi],
                                                     e_drawn[lo:hi], threshold):
            sub = average_linkage(members, el, er, ep, _restrict(local, members), threshold, max_size, ed)
            labels[members] = n + members[sub]  # offset keeps new labels apart from component ids
    return labels


def _split_giant(members: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray, drawn: np.ndarray,
                 threshold: float):
    """Guard against giant components (one chain of weak links across tens of thousands of records): split
    them on ever stricter links until each piece is small enough for average linkage to run in seconds."""
    if len(members) <= GIANT_COMPONENT or threshold >= 0.999:
        yield members, left, right, prob, drawn
        return
    stricter = threshold + (1.0 - threshold) / 2
    position = {int(m): i for i, m in enumerate(members)}
    li = np.array([position[int(x)] for x in left], dtype=np.int64)
    ri = np.array([position[int(x)] for x in right], dtype=np.int64)
    strong = prob >= stricter
    pieces = components(len(members), li[strong], ri[strong])
    same = pieces[li] == pieces[ri]
    for piece in np.unique(pieces):
        mask = same & (pieces[li] == piece)
        yield from _split_giant(members[pieces == piece], left[mask], right[mask], prob[mask], drawn[mask],
                                stricter)


def linkage_pieces(comp: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray, threshold: float
                   ) -> np.ndarray:
    """A label per record: its component, or for a giant one the piece ``_split_giant`` cuts it into. Completion
    (``missing_component_pairs``) draws its random partners within these: drawn across a giant component of
    50,000 records, an entity of 400 got a handful of draws among its own records, its parts' average fell to
    the lower bound of those few, and the entity came out in dozens of pieces."""
    sizes = np.bincount(comp)
    giant = np.flatnonzero(sizes > GIANT_COMPONENT)
    if len(giant) == 0 or threshold >= 0.999:
        return comp
    labels = comp.copy()
    inside = (comp[left] == comp[right]) & np.isin(comp[left], giant)
    left, right, prob = left[inside], right[inside], prob[inside]
    order = np.argsort(comp[left], kind="stable")
    left, right, prob = left[order], right[order], prob[order]
    members_of = _members_by_component(comp, giant)
    bounds = np.searchsorted(comp[left], giant, side="left"), np.searchsorted(comp[left], giant, side="right")
    next_label = len(comp)  # apart from every component id
    for c, lo, hi in zip(giant, *bounds, strict=True):
        no_draws = np.zeros(hi - lo, dtype=bool)
        for members, *_ in _split_giant(members_of[int(c)], left[lo:hi], right[lo:hi], prob[lo:hi], no_draws,
                                        threshold):
            labels[members] = next_label
            next_label += 1
    return labels


def _constraints_by_component(constraints: Constraints, comp: np.ndarray) -> dict[int, Constraints]:
    """Constraints grouped by the component holding both ends (pairs across components need no enforcing)."""
    grouped: dict[int, Constraints] = {}
    for kind in ("must", "cannot"):
        a, b = getattr(constraints, kind)
        inside = comp[a] == comp[b]
        for c in np.unique(comp[a][inside]):
            pick = inside & (comp[a] == c)
            entry = grouped.setdefault(int(c), Constraints())
            setattr(entry, kind, (a[pick], b[pick]))
    return grouped


def _components_needing_linkage(comp, sizes, e_left, e_prob, threshold, constraints, max_size) -> np.ndarray:
    """Components that are not already a clean clique above the threshold."""
    strong_count = np.bincount(comp[e_left][e_prob >= threshold], minlength=len(sizes))
    weak = np.bincount(comp[e_left][e_prob < threshold], minlength=len(sizes)) > 0
    full = sizes * (sizes - 1) // 2
    hard = (sizes > 2) & ((strong_count < full) | weak)
    if max_size is not None:
        hard |= sizes > max_size
    if len(constraints.cannot[0]):
        cl, cr = constraints.cannot
        hard[comp[cl][comp[cl] == comp[cr]]] = True
    if len(constraints.must[0]):  # must-link edges may duplicate scored ones: the clique count is unreliable
        hard[comp[constraints.must[0]]] = True
    return np.flatnonzero(hard & (sizes >= 2))


def _members_by_component(comp: np.ndarray, wanted: np.ndarray) -> dict[int, np.ndarray]:
    if len(wanted) == 0:
        return {}
    rows = np.flatnonzero(np.isin(comp, wanted))
    rows = rows[np.argsort(comp[rows], kind="stable")]
    bounds = np.searchsorted(comp[rows], wanted, side="left")
    return {int(c): part for c, part in zip(wanted, np.split(rows, bounds[1:]), strict=True)}


def _restrict(constraints: Constraints, members: np.ndarray) -> Constraints:
    def keep(pair: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        a, b = pair
        if len(a) == 0:
            return pair
        mask = np.isin(a, members) & np.isin(b, members)
        return a[mask], b[mask]
    return Constraints(keep(constraints.must), keep(constraints.cannot))


def one_to_one(n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray, threshold: float,
               constraints: Constraints | None = None) -> np.ndarray:
    """Greedy maximum-weight matching: each record links to at most one record (of the other source)."""
    constraints = constraints or Constraints()
    cannot = {(min(a, b), max(a, b)) for a, b in zip(*constraints.cannot, strict=True)}
    taken = np.zeros(n, dtype=bool)
    uf = _UnionFind(n)
    for a, b in zip(*constraints.must, strict=True):
        uf.union(int(a), int(b))
        taken[[a, b]] = True
    strong = np.flatnonzero(prob >= threshold)
    for i in strong[np.argsort(-prob[strong], kind="stable")]:
        a, b = int(left[i]), int(right[i])
        if not taken[a] and not taken[b] and (min(a, b), max(a, b)) not in cannot:
            taken[[a, b]] = True
            uf.union(a, b)
    return np.array([uf.find(i) for i in range(n)])
