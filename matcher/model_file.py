"""A fitted model as a file users can hold: save it after a fit, apply it later to the same or a new file.

One zip file (format in docs/model-format.md), no pickle: ``model.json`` (schema version, settings with the
inferred column types, blocking rules, Fellegi-Sunter parameters, link mode, thresholds, what the arrays are),
``arrays/<name>.npy`` (numbers and labeled keys, read with ``allow_pickle=False``; the classifier's trees and
calibrations as arrays, ``matcher.frozen``) and ``SHA256SUMS`` (a SHA-256 per member, ``sha256sum -c``
format). A file of another schema version, with a member that fails its checksum, missing or extra members,
or whose columns the data lacks is refused with an ``InputError`` saying which.

The checksums detect a damaged or edited file; they do not prove who wrote it (anyone can recompute them).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import matcher
from matcher import column_types, name_order
from matcher.blocking import RuleReport
from matcher.competition import Competition, top_two
from matcher.entity_tf import value_term_freqs
from matcher.errors import InputError, MatcherError
from matcher.features import PairFeatures
from matcher.frozen import FrozenClassifier, FrozenFold
from matcher.fs import FellegiSunter
from matcher.link_mode import LinkMode
from matcher.results import LabeledPairs
from matcher.settings import Settings

if TYPE_CHECKING:
    from matcher.fitted import FittedMatcher

FORMAT = "matcher-model"
SCHEMA_VERSION = 1
MANIFEST, CHECKSUMS, ARRAY_DIR = "model.json", "SHA256SUMS", "arrays/"
CHECKED_ROWS = 2000  # candidates on which a classifier's arrays must reproduce its probabilities to be saved
LABEL_ARRAYS = ("key_a", "key_b", "is_match", "set_id")


@dataclass(frozen=True)
class SavedModel:
    """A saved model's contents, as ``Matcher.from_model`` applies them."""

    manifest: dict[str, Any]  # model.json
    arrays: dict[str, np.ndarray]
    classifier: FrozenClassifier | None
    digest: str  # SHA-256 of SHA256SUMS: one id for the whole file's contents

    @property
    def settings(self) -> Settings:
        return Settings.from_dict(self.manifest["settings"])

    @property
    def rules(self) -> list[RuleReport]:
        return [RuleReport(tuple(r["keys"]), int(r["pairs"]), int(r["dropped_blocks"]), bool(r["used"]),
                           bool(r.get("supported", False))) for r in self.manifest["blocking"]["rules"]]

    @property
    def cold_start_choice(self) -> dict[str, Any]:
        return dict(self.manifest["cold_start"])

    @property
    def link_mode(self) -> LinkMode:
        mode = self.manifest["link_mode"]
        return LinkMode(bool(mode["one_to_one"]), str(mode["reason"]), dict(mode["evidence"]))

    @property
    def balanced_threshold(self) -> float:
        return float(self.manifest["balanced_threshold"])

    def require_columns(self, columns: pd.Index) -> None:
        missing = [c for c in self.manifest["columns"] if c not in columns]
        if missing:
            raise InputError(f"the model needs column(s) {', '.join(map(repr, missing))} which the data lacks "
                             f"(its columns are: {', '.join(map(str, columns))})")

    @property
    def crosswise_names(self) -> tuple[str, ...]:
        """The person-name columns the fit compared crosswise (``matcher.name_order``): the model's levels depend on
        them, so they are applied as saved, whatever the fill of the data the model is applied to. A file saved
        before they were written down: the name columns whose levels count the ``swapped`` one (none in a file
        saved before that level existed, which is then applied without it, as it was fitted)."""
        if "crosswise_names" in self.manifest:
            return tuple(self.manifest["crosswise_names"])
        values = self.manifest["fellegi_sunter"]
        types = {c.name: c.type for c in self.settings.columns}
        with_swapped = len(column_types.REGISTRY[name_order.NAME_TYPE].levels) + 2  # + missing + swapped
        return tuple(c for c, k in zip(values["columns"], values["n_levels"], strict=True)
                     if types.get(c) == name_order.NAME_TYPE and k == with_swapped)

    def cold_start(self, candidates: PairFeatures, random_pairs: PairFeatures) -> FellegiSunter:
        values = self.manifest["fellegi_sunter"]
        saved = dict(zip(values["columns"], values["n_levels"], strict=True))
        if sorted(saved) != sorted(candidates.n_levels):
            raise InputError("the model's Fellegi-Sunter columns do not match the data's comparisons: "
                             f"{sorted(values['columns'])} vs {sorted(candidates.n_levels)}")
        if saved != dict(candidates.n_levels):  # e.g. a level added since (swapped names): same schema, other levels
            differ = sorted(c for c in saved if saved[c] != candidates.n_levels[c])
            raise InputError(f"the model compares {', '.join(map(repr, differ))} on other levels than this matcher "
                             f"({matcher.__version__}) does: it was saved by matcher "
                             f"{self.manifest.get('matcher_version', '?')} before a comparison changed; fit the "
                             "model again with this version")
        return FellegiSunter.from_dict(values, _prefixed(self.arrays, "fs."), candidates, random_pairs)

    @property
    def term_frequencies(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per column, the values the model saw and their term frequencies (counted over entities at the fit:
        ``matcher.entity_tf``)."""
        columns = self.manifest.get("term_frequencies", [])
        return {c: (self.arrays[f"tf.{i}.values"], self.arrays[f"tf.{i}.freq"]) for i, c in enumerate(columns)}

    @functools.cached_property
    def term_frequency_index(self) -> dict[str, tuple[pd.Index, np.ndarray]]:
        """``term_frequencies`` with the values as an index, built once per loaded model: looking values up in
        600k names costs ~0.5 s per column to hash them, and an entity store applies its model many times."""
        return {c: (pd.Index(values.astype(object)), freq) for c, (values, freq) in self.term_frequencies.items()}

    def labeled_pairs(self, keys: pd.Series) -> LabeledPairs | None:
        """The model's labeled pairs whose two keys are both among ``keys`` (row i holds key i)."""
        if not self.manifest["labels"]["pairs"]:
            return None
        index = pd.Index(keys.to_numpy(dtype=object))
        lab = {name: self.arrays[f"labels.{name}"] for name in LABEL_ARRAYS}
        left, right = index.get_indexer(lab["key_a"].astype(object)), index.get_indexer(lab["key_b"].astype(object))
        keep = (left >= 0) & (right >= 0)
        if not keep.any():
            return None
        return LabeledPairs(left[keep], right[keep], lab["is_match"][keep].astype(bool), lab["set_id"][keep])

    def erased(self, keys: set[str], values: dict[str, set[str]]) -> bytes:
        """This model's file without the labeled pairs naming ``keys`` and without the term frequencies of
        ``values`` (column -> values no record holds any more): what erasing records leaves of it. Scores of the
        records that remain are unchanged (a value no one holds is never compared)."""
        manifest, arrays = json.loads(json.dumps(self.manifest)), dict(self.arrays)
        if manifest["labels"]["pairs"]:
            keep = ~(np.isin(arrays["labels.key_a"].astype(str), list(keys))
                     | np.isin(arrays["labels.key_b"].astype(str), list(keys)))
            for name in LABEL_ARRAYS:
                arrays[f"labels.{name}"] = arrays[f"labels.{name}"][keep]
            manifest["labels"]["pairs"] = int(keep.sum())
        for i, column in enumerate(manifest.get("term_frequencies", [])):
            gone = values.get(column)
            if gone:
                keep = ~np.isin(arrays[f"tf.{i}.values"].astype(str), list(gone))
                arrays[f"tf.{i}.values"] = arrays[f"tf.{i}.values"][keep]
                arrays[f"tf.{i}.freq"] = arrays[f"tf.{i}.freq"][keep]
        return _pack(manifest, arrays)

    def competition(self, n: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> Competition | None:
        """The one-to-one second stage with its saved coefficients, its rivals read off these candidates'
        first-stage probabilities ``prob`` (as ``Competition.fit`` does on the data it is fitted on)."""
        values = self.manifest["competition"]
        if values is None:
            return None
        stage = Competition(C=float(values["C"]))
        stage.best_, stage.partner_, stage.runner_up_ = top_two(n, left, right, prob)
        model = LogisticRegression(C=stage.C)
        model.coef_, model.intercept_ = self.arrays["competition.coef"], self.arrays["competition.intercept"]
        model.classes_, model.n_features_in_ = np.array([False, True]), model.coef_.shape[1]
        stage.model_ = model
        return stage


def model_bytes(fitted: FittedMatcher) -> bytes:
    """``fitted`` as the bytes of a model file."""
    return _pack(*_contents(fitted))


def _pack(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    members = {f"{ARRAY_DIR}{name}.npy": _npy(array) for name, array in sorted(arrays.items())}
    members[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))
    members[CHECKSUMS] = sums.encode("ascii")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in [MANIFEST, CHECKSUMS, *sorted(n for n in members if n.startswith(ARRAY_DIR))]:
            archive.writestr(name, members[name])
    return buffer.getvalue()


def save_model(fitted: FittedMatcher, path: str | Path) -> None:
    """Write ``fitted`` to ``path`` (atomically: a reader sees the whole file or the previous one)."""
    data = model_bytes(fitted)
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write model {path}: {exc}") from exc


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A model file's ``model.json`` alone, checked against its checksum (for listing models cheaply)."""
    where = f"model {path}"
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in (MANIFEST, CHECKSUMS) if name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise InputError(f"{where} cannot be read as a model file: {exc}") from exc
    manifest = _manifest(members, where)
    lines = members.get(CHECKSUMS, b"").decode("ascii", errors="replace").splitlines()
    listed = {name: digest for digest, _, name in (line.partition("  ") for line in lines)}
    if listed.get(MANIFEST) != hashlib.sha256(members[MANIFEST]).hexdigest():
        raise InputError(f"{where} fails its SHA-256 checksum for {MANIFEST}")
    return manifest


def load_model(path: str | Path | bytes) -> SavedModel:
    """Read and check a saved model (a file, or its bytes); an ``InputError`` naming what is wrong when it cannot
    be used."""
    where = "model" if isinstance(path, bytes) else f"model {path}"
    try:
        with zipfile.ZipFile(io.BytesIO(path) if isinstance(path, bytes) else path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise InputError(f"{where} cannot be read as a model file: {exc}") from exc
    manifest = _manifest(members, where)
    _verify(members, where)
    arrays = {}
    for name, data in members.items():
        if name.startswith(ARRAY_DIR):
            try:
                arrays[name[len(ARRAY_DIR):-len(".npy")]] = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as exc:
                raise InputError(f"{where}: array {name} cannot be read without pickle: {exc}") from exc
    try:
        classifier = _classifier(manifest["classifier"], arrays)
        model = SavedModel(manifest, arrays, classifier, hashlib.sha256(members[CHECKSUMS]).hexdigest())
        model.settings  # noqa: B018 (validates the settings now, not when they are first applied)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} is incomplete or malformed: {exc!r}") from exc
    except MatcherError as exc:
        raise InputError(f"{where}: {exc}") from exc
    return model


def _manifest(members: dict[str, bytes], where: str) -> dict[str, Any]:
    if MANIFEST not in members:
        raise InputError(f"{where} is not a matcher model: it has no {MANIFEST}")
    try:
        manifest = json.loads(members[MANIFEST])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: {MANIFEST} is not JSON ({exc}); the file is damaged or was edited") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{where} is not a matcher model: {MANIFEST} does not say format {FORMAT!r}")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(f"{where} has schema version {version!r}, which this matcher "
                         f"({matcher.__version__}) cannot read: it reads schema version {SCHEMA_VERSION}")
    return manifest


def _verify(members: dict[str, bytes], where: str) -> None:
    """Every member but SHA256SUMS is listed there with its SHA-256, and nothing else is in the file."""
    if CHECKSUMS not in members:
        raise InputError(f"{where} has no {CHECKSUMS}: its contents cannot be checked")
    listed = {}
    for line in members[CHECKSUMS].decode("ascii", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    others = set(members) - {CHECKSUMS}
    if set(listed) != others:
        unexpected, missing = sorted(others - set(listed)), sorted(set(listed) - others)
        raise InputError(f"{where} does not hold what its {CHECKSUMS} lists (unlisted: {unexpected or 'none'}; "
                         f"missing: {missing or 'none'}): the file is damaged or was edited")
    failed = sorted(name for name in others if hashlib.sha256(members[name]).hexdigest() != listed[name])
    if failed:
        raise InputError(f"{where} fails its SHA-256 checksum for {', '.join(failed)}: the file is damaged or was "
                         "edited, and is refused")


def _contents(fitted: FittedMatcher) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    fs_values, fs_arrays = fitted.fs_.to_dict()
    arrays = {f"fs.{name}": array for name, array in fs_arrays.items()}
    classifier = _frozen(fitted)
    classifier_values: dict[str, Any] | None = None
    if classifier is not None:
        folds: list[dict[str, Any]] = []
        classifier_values = {"n_train": classifier.n_train_, "folds": folds}
        arrays["classifier.columns"] = classifier.columns_
        for i, fold in enumerate(classifier.folds):
            folds.append({"method": fold.method, "baseline": fold.baseline, "trees": len(fold.tree_starts)})
            arrays[f"classifier.{i}.tree_starts"], arrays[f"classifier.{i}.depths"] = fold.tree_starts, fold.depths
            arrays.update({f"classifier.{i}.nodes.{k}": v for k, v in fold.nodes.items()})
            arrays.update({f"classifier.{i}.calibration.{k}": v for k, v in fold.calibration.items()})
    competition = fitted.competition_
    if competition is not None:
        arrays["competition.coef"] = np.asarray(competition.model_.coef_, dtype=np.float64)
        arrays["competition.intercept"] = np.asarray(competition.model_.intercept_, dtype=np.float64)
    arrays.update(_label_arrays(fitted))
    tf_columns = list(fitted.candidates_.tf)
    for i, (values, freq) in enumerate(value_term_freqs(fitted.table_, tf_columns).values()):
        arrays[f"tf.{i}.values"], arrays[f"tf.{i}.freq"] = values, freq
    settings = fitted.settings_
    manifest = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "matcher_version": matcher.__version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "records": int(fitted.table_.n),
        "columns": [c for c in (settings.primary_key, settings.source_column) if c] +
                   [c.name for c in settings.columns],
        "settings": settings.to_dict(),
        "blocking": {"rules": [{"keys": list(r.keys), "pairs": int(r.pairs), "dropped_blocks": int(r.dropped_blocks),
                                "used": bool(r.used), "supported": bool(r.supported)}
                               for r in fitted.blocker_.rules_]},
        "fellegi_sunter": fs_values, "cold_start": fitted.cold_start_choice_, "term_frequencies": tf_columns,
        "crosswise_names": [c.name for c in name_order.name_columns(fitted.table_)],
        "link_mode": asdict(fitted.link_mode_), "balanced_threshold": float(fitted.balanced_threshold_),
        "classifier": classifier_values,
        "competition": None if competition is None else {"C": float(competition.C)},
        "labels": {"pairs": int(len(arrays["labels.key_a"])) if "labels.key_a" in arrays else 0},
        "arrays": {name: {"dtype": str(a.dtype), "shape": list(a.shape)} for name, a in sorted(arrays.items())},
    }
    return json.loads(json.dumps(manifest, default=_plain)), arrays


def _frozen(fitted: FittedMatcher) -> FrozenClassifier | None:
    """The classifier as arrays, checked to give its probabilities bit for bit on the first candidates."""
    classifier = fitted.classifier_
    if classifier is None or isinstance(classifier, FrozenClassifier):
        return classifier
    frozen = FrozenClassifier.of(classifier)
    design = fitted.design(fitted.candidates_.subset(np.arange(min(CHECKED_ROWS, len(fitted.candidates_)))))
    if not np.array_equal(frozen.predict_proba(design), classifier.predict_proba(design)):
        raise InputError("the classifier cannot be saved exactly: its arrays do not reproduce its probabilities "
                         "with this scikit-learn version")
    return frozen


def _label_arrays(fitted: FittedMatcher) -> dict[str, np.ndarray]:
    lab = fitted.labeled_
    if lab is None or not len(lab.left):
        return {}
    keys = fitted.records_[fitted.settings_.primary_key].to_numpy(dtype=object)
    return {"labels.key_a": keys[lab.left].astype(str), "labels.key_b": keys[lab.right].astype(str),
            "labels.is_match": np.asarray(lab.is_match, dtype=bool), "labels.set_id": lab.set_id.astype(str)}


def _classifier(values: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> FrozenClassifier | None:
    if values is None:
        return None
    folds = []
    for i, fold in enumerate(values["folds"]):
        nodes = _prefixed(arrays, f"classifier.{i}.nodes.")
        calibration = _prefixed(arrays, f"classifier.{i}.calibration.")
        folds.append(FrozenFold(float(fold["baseline"]), arrays[f"classifier.{i}.tree_starts"],
                                arrays[f"classifier.{i}.depths"], nodes, str(fold["method"]), calibration))
    return FrozenClassifier(arrays["classifier.columns"], int(values["n_train"]), tuple(folds))


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: array for name, array in arrays.items() if name.startswith(prefix)}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _plain(value: object) -> object:
    """JSON for the numpy scalars the fitted parts' dictionaries hold."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

