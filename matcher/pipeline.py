"""The matcher: profile -> block -> score -> cluster, as one scikit-learn style estimator.

``Matcher(settings).fit(records, labels)`` learns everything about one dataset (blocking rules, candidate
pairs, the unsupervised model and, with labels, the classifier); ``predict(decision)`` clusters with the
user's decisions (``matcher.decision.Decision``: threshold, enforced labels, one-to-one, cluster cap), so moving
``precision_recall_tradeoff`` re-clusters without re-scoring. A fitted matcher is a value: ``predict`` changes
nothing in it, and what would change it (new labels, the service's cached parts) returns a new matcher
(``refit_labels``, ``with_records``, ``with_knobs``, ``with_candidate_design``, ``without_data``).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matcher import clustering_step
from matcher.assemble import assemble_result
from matcher.blocking import Blocker, decode
from matcher.classifier import PairClassifier, expected_f1_threshold, scoring_threads
from matcher.cluster import Constraints, in_sorted
from matcher.cold_start import choose_cold_start
from matcher.competition import Competition
from matcher.decision import Decision
from matcher.entity_tf import recount, use_value_term_freqs
from matcher.errors import InputError, LabelError, SettingsError
from matcher.explain import pairs_frame
from matcher.features import PairFeatures, compare
from matcher.frozen import Classifier, FrozenClassifier
from matcher.group_keys import judge_rules
from matcher.labels import Labels
from matcher.link_mode import LinkMode, label_evidence, model_evidence
from matcher.link_mode import decide as decide_link_mode
from matcher.pair_design import best_per_record, context_scores, pair_design
from matcher.pair_weights import aligned_weights
from matcher.prepare import prepare
from matcher.profile import infer_settings
from matcher.progress import Progress, ProgressCallback
from matcher.pseudo_labels import pseudo_labels
from matcher.records_check import keyed_records, validated_records
from matcher.results import LabeledPairs, MatchResult
from matcher.sampling import random_pairs
from matcher.settings import Settings

if TYPE_CHECKING:
    from matcher.model_file import SavedModel
    from matcher.reference import Subset

RANDOM_PAIRS = 200_000
# pairs compared and scored at once outside the candidates (``Matcher.score_pairs``)
SCORE_CHUNK = 500_000


class Matcher:
    """Fitted state: ``settings_`` (with inferred columns), ``table_``, ``blocker_``, ``candidates_``
    (PairFeatures), ``fs_`` (and ``fs_prob_``, its probability of each candidate), ``classifier_`` (None without
    usable labels), ``competition_`` (one-to-one linkage with labels, else None), ``prob_`` (per candidate), and
    once a classifier needs it ``candidate_design_`` (``candidate_design``); ``group_keys_``: the blocking rules
    judged group keys (``matcher.group_keys``)."""

    candidate_design_: np.ndarray | None
    pinned_: np.ndarray | None  # from_model on a store's subset: groups of rows kept together (Subset.pinned)
    classifier_: Classifier | None

    def __init__(self, settings: Settings, progress: ProgressCallback | None = None, keep_index: bool = False
                 ) -> None:
        self.settings = settings
        self.progress = progress
        self.keep_index = keep_index  # keep what an entity store needs (``PreparedTable.keep_index``)

    def fit(self, records: pd.DataFrame, labels: Labels | None = None, weights: pd.DataFrame | None = None
            ) -> Matcher:
        """``weights``: how much each labeled pair counts in training (``matcher.pair_weights``); None: once each."""
        progress = Progress(self.progress)
        self.records_ = validated_records(records, self.settings)
        progress.stage("prepare")
        self.settings_ = infer_settings(self.records_, self.settings.primary_key, self.settings.source_column,
                                        base=Settings.from_dict(self.settings.to_dict()))
        if not self.settings_.data_columns:
            raise SettingsError("no data columns to compare besides the primary key and source column")
        self.table_ = prepare(self.records_, self.settings_, progress, keep_index=self.keep_index)
        progress.stage("blocking")
        self.blocker_ = Blocker(self.settings_.accuracy_cost_tradeoff).fit(self.table_, progress)
        random = self._compare_candidates(progress)
        # the cold start's probability of every candidate (fs_prob_) is read again by every refit (pseudo-labels;
        # the scores while no classifier can be trained): ~1 s at 1M records each time
        self.fs_, self.fs_prob_, self.cold_start_choice_ = choose_cold_start(self.candidates_, random)
        self._read_link_evidence()  # the first pass needs the link mode, not the records' best scores
        # term frequencies over the entities of a first pass, then the cold start again (matcher.entity_tf)
        entities = self._unsupervised_clusters()
        recount(self.table_, entities, self.candidates_, random)
        self.fs_, self.fs_prob_, self.cold_start_choice_ = choose_cold_start(self.candidates_, random,
                                                                            start=self.fs_prob_)
        self.cold_start_choice_["term_frequencies"] = (f"counted over the {len(np.unique(entities)):,} entities "
                                                       "of a first unsupervised pass")
        self._read_cold_start()
        self._judge_group_keys()
        self._learn_labels(labels, weights=weights)
        progress.finish()
        return self

    def _judge_group_keys(self) -> None:
        """The blocking rules whose blocks mostly hold different identities (``matcher.group_keys``)."""
        self.group_keys_ = judge_rules(self.table_, self.blocker_.rules_, self.candidates_, self.fs_,
                                       self.settings_.seed)

    def _unsupervised_clusters(self) -> np.ndarray:
        """The clusters the cold start alone gives (no labels, the balanced threshold, no size cap): an entity
        per row. Never the user's knobs: they are decisions taken after the fit, which must not depend on them."""
        self._learn_labels(None)
        entity, _ = self.cluster_labels(Decision(), self.links_one_to_one)
        return entity

    def _compare_candidates(self, progress: Progress, n_random: int = RANDOM_PAIRS) -> PairFeatures:
        """Compare the blocker's candidate pairs (``candidates_``); returns random pairs compared likewise."""
        progress.stage("features")
        left, right = decode(self.blocker_.pair_ids_, self.table_.n)
        self.candidates_ = compare(self.table_, left, right, progress)
        isolated = getattr(self.blocker_, "isolated_ids_", None)
        if isolated is not None and len(isolated):
            self.candidates_.outside_rules = in_sorted(self.blocker_.pair_ids_, isolated)  # both sorted
        progress.stage("model")
        rl, rr = random_pairs(self.table_.n, n_random, self.table_.source, self.settings_.seed)
        # the cold start reads the random pairs' levels only: no extra comparators (~5 s per 200k pairs)
        return compare(self.table_, rl, rr, extras=False)

    def _read_cold_start(self) -> None:
        """What the cold start's scores tell about the records: link evidence and each record's best scores."""
        self._read_link_evidence()
        self.best_ = best_per_record(context_scores(self.fs_, self.settings_, self.candidates_), self.candidates_,
                                     self.table_.n)

    def _read_link_evidence(self) -> None:
        self.model_link_evidence_ = model_evidence(self.table_.n, self.candidates_.left, self.candidates_.right,
                                                   self.fs_prob_) if self.table_.source is not None else None

    @classmethod
    def from_model(cls, model: SavedModel, records: pd.DataFrame, progress: ProgressCallback | None = None,
                   subset: Subset | None = None, keep_index: bool = False) -> Matcher:
        """A saved model (``matcher.model_file``) applied to ``records`` with its columns, the data it was
        fitted on or another: re-blocked by its rules, compared, scored by its models (no EM, no classifier
        fit), with its link mode, balanced threshold and the labeled pairs whose keys are in ``records``.
        ``subset``: ``records`` are part of a larger dataset, an entity store's (``matcher.reference.Subset``)."""
        out = cls(model.settings, progress, keep_index or bool(subset and subset.keep_index))
        stages = Progress(progress)
        out.records_ = validated_records(records, model.settings)
        stages.stage("prepare")
        out.settings_ = Settings.from_dict(model.settings.to_dict())
        out.table_ = prepare(out.records_, out.settings_, stages, subset.reference if subset else None,
                             out.keep_index)
        use_value_term_freqs(out.table_, model.term_frequency_index)
        out.table_.crosswise = model.crosswise_names
        stages.stage("blocking")
        out.blocker_ = Blocker.from_rules(out.settings_.accuracy_cost_tradeoff, model.rules, out.table_)
        if subset is not None and subset.touching is not None:
            out.blocker_ = out.blocker_.touching(subset.touching)
        out.pinned_ = subset.pinned if subset is not None else None
        if out.pinned_ is not None:
            out.blocker_ = out.blocker_.without_within(out.pinned_)
        random = out._compare_candidates(stages, subset.random_pairs if subset else RANDOM_PAIRS)
        out.fs_ = model.cold_start(out.candidates_, random)
        out.fs_prob_, out.cold_start_choice_ = out.fs_.predict_proba(out.candidates_), model.cold_start_choice
        out._read_cold_start()
        out._judge_group_keys()
        if subset is not None and subset.best_floor is not None:
            out.best_ = [np.maximum(best, floor) for best, floor in zip(out.best_, subset.best_floor, strict=True)]
        out.labels_, out.link_mode_ = None, model.link_mode
        out.labeled_ = model.labeled_pairs(out.records_[out.settings_.primary_key])
        out.classifier_ = model.classifier
        with scoring_threads(len(out.candidates_)):
            first = out.score(out.candidates_)
        out.competition_ = model.competition(out.table_.n, out.candidates_.left, out.candidates_.right, first)
        out.prob_ = first if out.competition_ is None else \
            out.competition_.predict_proba(first, out.candidates_.left, out.candidates_.right)
        out.balanced_threshold_ = model.balanced_threshold
        stages.finish()
        return out

    def _copy(self) -> Matcher:
        """A shallow copy: the fitted parts are shared and never written into, only rebound on the copy."""
        return copy.copy(self)

    def with_records(self, records: pd.DataFrame) -> Matcher:
        """This fitted matcher with its input rows given back: the service caches fits without them (they are
        the dataset file, which every run reads anyway, and a million rows of Python strings unpickle slowly).
        Only the row count is checked: the columns and keys were validated when the matcher was fitted.
        The primary-key column alone is enough for everything but whole output rows: ``predict`` then gives
        the key, ``match_id`` and ``match_confidence_score`` (the service joins those to its dataset file)."""
        rows = keyed_records(records, self.settings_.primary_key)
        if len(rows) != self.table_.n:
            raise InputError(f"the fitted matcher saw {self.table_.n} records, not {len(rows)}")
        out = self._copy()
        out.records_ = rows
        return out

    def with_knobs(self, settings: Settings, progress: ProgressCallback | None = None) -> Matcher:
        """This fitted matcher under ``settings`` (same fit, e.g. a cached one): it takes their knobs that act
        after the fit (precision/recall, enforce labels, one-to-one; the next ``refit_labels`` decides the link
        mode and second stage with them) and reports to ``progress``."""
        out = self._copy()
        out.settings, out.progress = settings, progress
        out.settings_ = dataclasses.replace(
            self.settings_, precision_recall_tradeoff=settings.precision_recall_tradeoff,
            enforce_labels=settings.enforce_labels, one_to_one=settings.one_to_one)
        return out

    def with_candidate_design(self, design: np.ndarray) -> Matcher:
        """This fitted matcher with ``candidate_design()`` given (e.g. memory-mapped from the service's cache)."""
        if design.shape[0] != len(self.candidates_):
            raise ValueError(f"a design of {design.shape[0]} rows for {len(self.candidates_)} candidates")
        out = self._copy()
        out.candidate_design_ = design
        return out

    def without_data(self) -> Matcher:
        """This fitted matcher without its input rows, progress callback and candidates' design matrix: what
        the service caches (the rows are the dataset file, the design a file of its own; ``with_records`` and
        ``with_candidate_design`` give them back)."""
        out = self._copy()
        del out.records_
        out.progress, out.candidate_design_ = None, None
        return out

    def refit_labels(self, labels: Labels | None, score_candidates: Callable[[Matcher], np.ndarray] | None = None,
                     weights: pd.DataFrame | None = None) -> Matcher:
        """A new fitted matcher that learnt from ``labels`` reusing this one's blocking and features (a labeling
        round costs seconds); this one is left as it was.

        ``score_candidates(matcher)`` may replace ``matcher.score(matcher.candidates_)`` with an equivalent that
        spreads the work (the service scores large candidate sets in partitions on several workers).
        ``weights``: as in ``fit``."""
        out = self._copy()
        out._learn_labels(labels, score_candidates, weights)
        return out

    def _learn_labels(self, labels: Labels | None, score_candidates: Callable[[Matcher], np.ndarray] | None = None,
                      weights: pd.DataFrame | None = None) -> None:
        self.labels_ = labels
        self.labeled_ = self._labeled_pairs(labels, weights)
        self.link_mode_ = self._link_mode()
        # tens of thousands of candidates score faster on one OpenMP thread (the CLI's refit and the service's)
        with scoring_threads(len(self.candidates_)):
            self.classifier_ = self.fit_classifier(self.labeled_)
            self.competition_: Competition | None = None  # the scorer below must give first-stage probabilities
            prob = score_candidates(self) if score_candidates else self.score(self.candidates_)
            self.competition_, self.prob_ = self.second_stage(self.classifier_, self.labeled_, prob)
        # only the classifier's probabilities are calibrated (on the labels); the cold start keeps 0.5
        self.balanced_threshold_ = expected_f1_threshold(self.prob_) if self.classifier_ is not None else 0.5

    def _link_mode(self) -> LinkMode:
        source, lab = self.table_.source, self.labeled_
        labeled = None
        if source is not None and lab is not None:
            labeled = label_evidence(self.table_.n, source, lab.left, lab.right, lab.is_match)
        return decide_link_mode(self.settings_.one_to_one, source is not None, self.model_link_evidence_, labeled)

    @property
    def links_one_to_one(self) -> bool:
        """Whether linkage links each record to at most one other: the settings' choice, else ``link_mode_``
        as decided from the data and the labels at the last (re)fit."""
        given = self.settings_.one_to_one
        if given is not None:
            return bool(given) and self.table_.source is not None
        return self.link_mode_.one_to_one

    def second_stage(self, classifier: PairClassifier | None, lab: LabeledPairs | None,
                     prob: np.ndarray) -> tuple[Competition | None, np.ndarray]:
        """The competition stage of ``classifier`` (``fit_competition``) and every candidate's final
        probability given their first-stage ``prob``: ``prob`` itself when there is no such stage."""
        competition = self.fit_competition(classifier, lab, prob)
        if competition is None:
            return None, prob
        return competition, competition.predict_proba(prob, self.candidates_.left, self.candidates_.right)

    def fit_competition(self, classifier: PairClassifier | None, lab: LabeledPairs | None,
                        prob: np.ndarray) -> Competition | None:
        """The one-to-one second stage (``matcher.competition``) of ``classifier``, fitted on its out-of-fold
        probabilities of the human pairs ``lab`` (they come first in its training rows) against every
        candidate's first-stage probability ``prob``. None unless one-to-one linkage with enough labels."""
        if classifier is None or lab is None or not self.links_one_to_one:
            return None
        lab = self.scored_kind(lab)
        if not Competition.can_fit(lab.is_match):
            return None
        oof = classifier.oof_[:len(lab.left)]
        candidates = (self.table_.n, self.candidates_.left, self.candidates_.right, prob)
        return Competition().fit(oof, lab.left, lab.right, lab.is_match, candidates)

    def _labeled_pairs(self, labels: Labels | None, weights: pd.DataFrame | None = None) -> LabeledPairs | None:
        if labels is None or labels.rows.empty:
            if weights is not None and len(weights):
                raise LabelError("pair weights were given without labels to weigh")
            return None
        pairs = labels.pairs()
        weight = aligned_weights(pairs, weights)
        # a hash lookup in the (unique) key index: Series.isin on 1M arrow strings took 10 s
        keys = pd.Index(self.records_[self.settings_.primary_key].to_numpy(dtype=object))
        key_a, key_b = pairs["key_a"].to_numpy(dtype=object), pairs["key_b"].to_numpy(dtype=object)
        left, right = keys.get_indexer(key_a), keys.get_indexer(key_b)
        if (left < 0).any() or (right < 0).any():
            missing = sorted(set(map(str, np.r_[key_a[left < 0], key_b[right < 0]])))[:5]
            raise InputError(f"labels name primary keys not in the data: {', '.join(missing)}")
        return LabeledPairs(left, right, pairs["is_match"].to_numpy(dtype=bool), pairs["labeling_set_id"].to_numpy(),
                            weight)

    def design(self, features: PairFeatures) -> np.ndarray:
        """The classifier's features of ``features``' pairs (``matcher.pair_design``)."""
        return pair_design(features, context_scores(self.fs_, self.settings_, features), self.best_)

    def candidate_design(self) -> np.ndarray:
        """``design(candidates_)``, built once per fit and kept in ``candidate_design_``: it depends on the fit
        alone, and every refit and every cross-validation fold scores every candidate with it (~1.5 s to build
        at 1M records). The service keeps it beside its cached fit as a file read back memory-mapped."""
        design = getattr(self, "candidate_design_", None)
        if design is None:
            design = self.candidate_design_ = self.design(self.candidates_)
        return design

    def fit_classifier(self, lab: LabeledPairs | None, warn: bool = True) -> PairClassifier | None:
        """A calibrated classifier on these labeled pairs (plus pseudo-labels), or None if they cannot train one."""
        if lab is None:
            return None
        lab = self.scored_kind(lab)
        if not PairClassifier.can_fit(lab.is_match):
            if warn:
                warnings.warn("labels hold too few matches or non-matches to train a classifier "
                              "(need 5 of each); using the unsupervised model", UserWarning, stacklevel=2)
            return None
        features = compare(self.table_, lab.left, lab.right)
        X = self.design(features)
        y, groups, weight = lab.is_match, lab.set_id.astype(str), lab.weight
        pseudo = pseudo_labels(self.fs_prob_, self.candidates_.left, self.candidates_.right, self.table_.n, lab,
                               self.fs_.predict_proba(features), self.settings_.seed)
        if pseudo is not None:
            idx, py = pseudo
            X = np.vstack([X, self.candidate_design()[idx]])
            y = np.r_[y, py]
            groups = np.r_[groups, np.array([f"~pseudo{i % 10}" for i in range(len(idx))])]
            weight = None if weight is None else np.r_[weight, np.ones(len(idx))]  # the cold start's: unweighed
        return PairClassifier(random_state=self.settings_.seed).fit(X, y, groups=groups, sample_weight=weight)

    def scored_kind(self, lab: LabeledPairs) -> LabeledPairs:
        """In linkage only cross-source pairs are ever scored: the same-source pairs of a labeling set (most of
        its pairs, nearly all non-matches) would train the classifier on a population it never sees."""
        source = self.table_.source
        if source is None:
            return lab
        return lab.subset(source[lab.left] != source[lab.right])

    def score(self, features: PairFeatures,
              classifier: PairClassifier | FrozenClassifier | None | str = "fitted") -> np.ndarray:
        """P(match) for each pair: the classifier when trained, else the Fellegi-Sunter posterior. Without the
        one-to-one second stage, which needs every candidate's score: ``prob_`` holds the final probabilities."""
        model = self.classifier_ if isinstance(classifier, str) else classifier
        if model is not None:
            return model.predict_proba(self.candidate_design() if features is self.candidates_ else
                                       self.design(features))
        if features is self.candidates_:
            return self.fs_prob_.copy()
        return self.fs_.predict_proba(features)

    def score_pairs(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """``score(compare(...))`` of pairs that are not candidates (the completion's), ``SCORE_CHUNK`` at a time: a
        pair's features and score do not depend on the pairs beside it, and at 1M records the completion's
        millions of pairs held all their similarities at once (half a gigabyte above the candidates)."""
        parts = [self.score(compare(self.table_, left[i:i + SCORE_CHUNK], right[i:i + SCORE_CHUNK]))
                 for i in range(0, len(left), SCORE_CHUNK)]
        return np.concatenate(parts) if parts else np.zeros(0)

    @property
    def default_decision(self) -> Decision:
        """The decisions the settings of the fit hold (``Decision.from_settings``)."""
        return Decision.from_settings(self.settings_)

    @property
    def threshold(self) -> float:
        """The probability a pair needs to be linked under ``default_decision`` (``Decision.threshold``):
        precision_recall_tradeoff 0.5 is the balanced threshold (``expected_f1_threshold`` once a classifier is
        trained, else 0.5)."""
        return self.default_decision.threshold(self.balanced_threshold_)

    def predict(self, decision: Decision | None = None, *, precision_recall_tradeoff: float | None = None,
                enforce_labels: bool | None = None, one_to_one_links: bool | None = None) -> MatchResult:
        """The clusters under ``decision`` (default: ``default_decision``). Changes nothing in the matcher.
        The keywords are a shorthand for the decision of the fit's settings with those fields replaced."""
        if decision is None:
            changed: dict[str, Any] = {"precision_recall_tradeoff": precision_recall_tradeoff,
                                       "enforce_labels": enforce_labels, "one_to_one": one_to_one_links}
            decision = dataclasses.replace(self.default_decision,
                                           **{k: v for k, v in changed.items() if v is not None})
        if decision.one_to_one and self.table_.source is None:
            raise SettingsError("one-to-one links need a source column (two-table linkage)")
        one = self.links_one_to_one if decision.one_to_one is None else decision.one_to_one
        return assemble_result(self, decision, one)

    def edges(self, enforce: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate pairs and probabilities; with enforce, labeled pairs are pinned to 1 or 0."""
        return clustering_step.edges(self, enforce)

    def constraints(self) -> Constraints:
        return clustering_step.label_constraints(self.labeled_)

    def cluster_labels(self, decision: Decision, one: bool) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Cluster per record plus the edges it was decided on (``matcher.clustering_step``)."""
        return clustering_step.cluster_labels(self, decision, one)

    def explain_pairs(self, min_probability: float = 0.05) -> pd.DataFrame:
        return pairs_frame(self, min_probability)
