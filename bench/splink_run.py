"""Baseline: Splink 5 (DuckDB backend) on a bench folder, with its documented settings.

Usage (Splink lives in its own venv; create it once with ``bash bench/setup_splink.sh``)::

    bench/.venv-splink/bin/python bench/splink_run.py BENCH_DIR --profile febrl|person|auto \\
        [--out PRED.csv] [--threshold P] [--sweep] [--seed N] [--verbose]

e.g. ``bench/.venv-splink/bin/python bench/splink_run.py ../shared/datasets/febrl3/bench
--profile febrl``. It trains a model, predicts pairwise match probabilities, clusters them
(connected components at ``--threshold``), writes ``id,match_id`` to ``--out`` and prints
JSON: wall seconds (total and per phase, data loading included), peak RSS of this process
and of its children (``getrusage`` maxrss, taken before scoring) and the pairwise scores of
bench/score.py (``--sweep`` adds F1 at other cluster thresholds).

Profiles, each following one example of the Splink docs (docs/demos/examples/duckdb/ in
the Splink repository, as of Splink 5.0.0):

* ``febrl`` on a dedup bench (``source_column`` null): ``febrl3.ipynb`` "Deduplicating the
  febrl3 dataset": its blocking rules, comparisons (NameComparison, DateOfBirthComparison
  %Y%m%d, DamerauLevenshtein on soc_sec_id, tf-adjusted exact street_number and postcode),
  prior from deterministic rules at recall 0.9, u by random sampling (1e6 pairs, seed 2),
  EM blocked on date_of_birth then postcode, predict at 0.2. The example stops at
  pairwise predictions; clusters here are at 0.5 unless ``--threshold``.
* ``febrl`` on a linkage bench (``source_column`` set): ``febrl4.ipynb`` "Linking the
  febrl4 datasets", its *detailed* model: link_only on the two sources, its seven blocking
  rules and comparisons, prior at recall 0.8, u from 1e6 random pairs, EM (without term
  frequencies) blocked on date_of_birth then postcode, predict at 0.2, clusters at 0.99 as
  in the example.
* ``person`` (bench/synth.py data): ``deduplicate_50k_synthetic.ipynb`` "Linking a dataset
  of real historical persons", its columns mapped to ours (first_name -> given_name,
  postcode_fake -> postcode, birth_place -> city, occupation -> email, compared with
  EmailComparison as in the README quickstart): the same ten blocking rules,
  ForenameSurnameComparison with a tf concat column, DateOfBirthComparison,
  PostcodeComparison, prior from three deterministic rules at recall 0.6, u from 1e7 random
  pairs, EM (without term frequencies) blocked on given_name+surname then dob, clusters at
  0.95 as in the example. The example predicts without a threshold; predicting at 0.2 here
  gives the same clusters at any cluster threshold >= 0.2.
* ``auto`` on any bench folder: a new user's unsupervised run with no tuning per dataset,
  following the steps of the examples above with settings derived from the data by these
  fixed rules (the chosen settings are reported under ``auto`` in the JSON):

  - columns: every column but the primary key, the ``source_column`` and a column named
    ``source``; a column null in every record (of one source, for linkage) is dropped. Names
    that break Splink's SQL are renamed (``by`` -> ``by_``, ``actor name`` -> ``actor_name``).
  - comparison of a column, from its non-null values only: *numeric/date-like* if >= 80% of
    them are only digits, spaces and ``-/.:,+()`` -> ``LevenshteinAtThresholds(col, [1, 2])``;
    else *long text* if they average more than 4 space-separated tokens ->
    ``JaccardAtThresholds(col, [0.9, 0.7])`` (DuckDB's ``jaccard`` compares character sets);
    else *short text/names* -> ``JaroWinklerAtThresholds(col, [0.9, 0.7])``. Numeric and short
    text columns get term-frequency adjustments (on the exact-match level), long text none.
  - blocking: ``block_on(col)`` for each column, its pairs counted exactly from the value
    counts (dedup: sum of C(n_v, 2); linkage: cross-source pairs only, which is what Splink's
    comparison count of an equi-join gives); a rule with more than 50 x N pairs (N records)
    is skipped, and rules are taken from the most selective up while their pair counts sum
    to at most 100 x N (the first always). If the rules kept give fewer than N / 10 pairs
    in all (exact values hardly ever repeat, e.g. free text), rules on the first 6 characters
    ``block_on("substr(col, 1, 6)")`` join the candidates, under the same caps. If still no
    rule qualifies: the same on pairs of columns ``block_on(a, b)``; if none of those either:
    the most selective column anyway.
  - prior: ``estimate_probability_two_random_records_match`` with the single most selective
    rule at recall 0.7, among the *informative* rules if any: rules on columns non-null in
    >= 80% of the records and giving at least N / 10 pairs (a rule on a sparse column, or on
    values that hardly ever repeat exactly, finds a small share of the matches, so recall 0.7
    would not hold and the prior would come out orders of magnitude too low); if it raises:
    the next rule; if all do: Splink's default 1e-4. EM rules (below) are also chosen among
    the informative rules if any.
  - u: ``estimate_u_using_random_sampling(max_pairs=1e7)``, seed 42.
  - m: EM blocked on each of the two most selective rules with at least 1000 pairs (fewer
    rules qualifying: the largest ones), none if the rule blocks on every compared column;
    each session on its own: if one raises, the error is logged to stderr, the model is put
    back as before that session and training goes on (parameters no session estimated keep
    Splink's defaults). Every such fallback is listed under ``fallbacks`` in the JSON.
  - link type ``dedupe_only``, or ``link_only`` across the sources of ``source_column``;
    predict at 0.2, clusters at 0.95 (as the ``person`` example).

Where an example leaves u sampling unseeded, seed 42 is used so that runs repeat.
Columns are read as text; empty fields are nulls. Splink logs go to stderr (``--verbose``).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import duckdb
import splink
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import load_bench, pairwise_scores, read_csv  # noqa: E402

SWEEP = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999]


def febrl3_profile() -> dict:
    """docs/demos/examples/duckdb/febrl3.ipynb."""
    blocking = [
        block_on("soc_sec_id"),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
        cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
    ]
    deterministic = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
    ]
    return {
        "doc_example": "docs/demos/examples/duckdb/febrl3.ipynb",
        "link_type": "dedupe_only",
        "blocking": blocking,
        "comparisons": comparisons,
        "deterministic": deterministic,
        "recall": 0.9,
        "u_max_pairs": 1e6,
        "u_seed": 2,
        "em": [block_on("date_of_birth"), block_on("postcode")],
        "em_without_tf": False,
        "predict_threshold": 0.2,
        "cluster_threshold": 0.5,
    }


def febrl4_profile() -> dict:
    """docs/demos/examples/duckdb/febrl4.ipynb (the detailed model)."""
    blocking = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    comparisons = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison(
            "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
        ),
        cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
    ]
    return {
        "doc_example": "docs/demos/examples/duckdb/febrl4.ipynb",
        "link_type": "link_only",
        "blocking": blocking,
        "comparisons": comparisons,
        "deterministic": [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")],
        "recall": 0.8,
        "u_max_pairs": 1e6,
        "u_seed": 42,  # unseeded in the example; fixed so that runs repeat
        "em": [block_on("date_of_birth"), block_on("postcode")],
        "em_without_tf": True,
        "predict_threshold": 0.2,
        "cluster_threshold": 0.99,
    }


def person_profile() -> dict:
    """docs/demos/examples/duckdb/deduplicate_50k_synthetic.ipynb, mapped to synth.py columns."""
    blocking = [
        block_on("substr(given_name,1,3)", "substr(surname,1,4)"),
        block_on("surname", "dob"),
        block_on("given_name", "dob"),
        block_on("postcode", "given_name"),
        block_on("postcode", "surname"),
        block_on("dob", "city"),
        block_on("substr(postcode,1,3)", "dob"),
        block_on("substr(postcode,1,3)", "given_name"),
        block_on("substr(postcode,1,3)", "surname"),
        block_on("substr(given_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
    ]
    comparisons = [
        cl.ForenameSurnameComparison(
            "given_name", "surname", forename_surname_concat_col_name="given_name_surname_concat"
        ),
        cl.DateOfBirthComparison("dob", input_is_string=True),
        cl.PostcodeComparison("postcode"),
        cl.ExactMatch("city").configure(term_frequency_adjustments=True),
        cl.EmailComparison("email"),
    ]
    deterministic = [
        block_on("given_name", "surname", "dob"),
        block_on("substr(given_name,1,2)", "surname", "substr(postcode,1,2)"),
        block_on("dob", "postcode"),
    ]
    return {
        "doc_example": "docs/demos/examples/duckdb/deduplicate_50k_synthetic.ipynb",
        "link_type": "dedupe_only",
        "blocking": blocking,
        "comparisons": comparisons,
        "deterministic": deterministic,
        "recall": 0.6,
        "u_max_pairs": 1e7,
        "u_seed": 42,  # unseeded in the example; fixed so that runs repeat
        "em": [block_on("given_name", "surname"), block_on("dob")],
        "em_without_tf": True,
        "predict_threshold": 0.2,
        "cluster_threshold": 0.95,
        "concat": ("given_name_surname_concat", "given_name || ' ' || surname"),
    }


NUMERIC = r"[0-9\s\-/.:,+()]+"  # numeric/date-like values: digits, spaces and -/.:,+()
RULE_CAP, TOTAL_CAP, EM_MIN_PAIRS, FILLED, PREFIX = 50, 100, 1000, 0.8, 6


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _one(con, sql: str):
    return con.sql(sql).fetchall()[0]


def _pairs(con, exprs: tuple[str, ...], src: str | None) -> int:
    """Exact pair count of ``block_on(*exprs)``: within-value pairs (dedup) or cross-source pairs."""
    keys = ", ".join(f"{e} as key_{i}" for i, e in enumerate(exprs))
    where = " and ".join(f"{e} is not null" for e in exprs)
    if not src:
        inner = f"select {keys}, count(*) k from auto_records where {where} group by all"
        return int(_one(con, f"select coalesce(sum(k * (k - 1) / 2), 0) from ({inner})")[0])
    per_source = f"select {keys}, {_q(src)}, count(*) k from auto_records where {where} group by all"
    names = ", ".join(f"key_{i}" for i in range(len(exprs)))
    per_value = f"select sum(k) t, sum(k * k) s2 from ({per_source}) group by {names}"
    return int(_one(con, f"select coalesce(sum((t * t - s2) / 2), 0) from ({per_value})")[0])


def _comparison(con, col: str, src: str | None):
    """The column's comparison, kind (rule of the docstring) and share of non-null values; None to drop it."""
    q = _q(col)
    if src:
        per_source = con.sql(f"select count({q}) from auto_records group by {_q(src)}").fetchall()
        if min(c for (c,) in per_source) == 0:
            return None, "null in a source", 0.0
    numeric, tokens, filled = _one(con, f"select avg(regexp_full_match({q}, '{NUMERIC}')::int), "
                                        f"avg(len(string_split(trim({q}), ' '))), avg(({q} is not null)::int) "
                                        "from auto_records")
    if numeric is None:
        return None, "all null", 0.0
    if numeric >= 0.8:
        comparison, kind = cl.LevenshteinAtThresholds(col, [1, 2]), "numeric"
    elif tokens > 4:
        return cl.JaccardAtThresholds(col, [0.9, 0.7]), "long_text", filled
    else:
        comparison, kind = cl.JaroWinklerAtThresholds(col, [0.9, 0.7]), "short_text"
    return comparison.configure(term_frequency_adjustments=True), kind, filled


def _choose_rules(con, cols: list[str], src: str | None, n: int) -> list[tuple]:
    """Blocking rules ``(exprs, columns, pairs)``, most selective first (see the docstring)."""

    def counted(keys: list[tuple[str, ...]]) -> list[tuple]:
        found = [(exprs, on, _pairs(con, exprs, src)) for exprs, on in keys]
        return sorted((r for r in found if r[2] > 0), key=lambda r: r[2])

    def capped(found: list[tuple]) -> list[tuple]:
        kept, total = [], 0
        for rule in sorted(found, key=lambda r: r[2]):
            if rule[2] <= RULE_CAP * n and (not kept or total + rule[2] <= TOTAL_CAP * n):
                kept.append(rule)
                total += rule[2]
        return kept

    singles = counted([((c,), (c,)) for c in cols])
    kept = capped(singles)
    if sum(r[2] for r in kept) < n / 10:  # exact values hardly ever repeat: prefixes too
        kept = capped(kept + counted([((f"substr({c}, 1, {PREFIX})",), (c,)) for c in cols]))
    if not kept:
        kept = capped(counted([(pair, pair) for pair in combinations(cols, 2)]))
    if not kept and singles:
        print(f"splink_run: no blocking rule under {RULE_CAP} x N pairs; using {singles[0]}", file=sys.stderr)
        kept = singles[:1]
    if not kept:
        raise SystemExit("auto profile: no two records share a value or prefix of any column; no blocking rule")
    return kept


def safe_names(con, rel, meta: dict):
    """``rel`` with data columns renamed where Splink's SQL would break: not a lowercase identifier
    (``actor name`` -> ``actor_name``) or a DuckDB keyword other than unreserved (``by`` -> ``by_``)."""
    keywords = {k for (k,) in con.sql("select keyword_name from duckdb_keywords() "
                                      "where keyword_category <> 'unreserved'").fetchall()}
    keep, taken, exprs = {meta.get("primary_key", "id"), meta.get("source_column")}, set(rel.columns), []
    for col in rel.columns:
        new = col
        if col not in keep and (not re.fullmatch(r"[a-z_][a-z0-9_]*", col) or col in keywords):
            new = re.sub(r"\W+", "_", col.lower()).strip("_") or "column"
            new = f"c_{new}" if new[0].isdigit() else new
            while new in keywords or new in taken:
                new += "_"
            taken.add(new)
        exprs.append(f"{_q(col)} as {_q(new)}")
    return rel.project(", ".join(exprs))


def auto_profile(con, rel, meta: dict) -> dict:
    """Settings derived from the values of the bench records; see ``auto`` in the module docstring."""
    con.register("auto_records", rel)
    pk, src = meta.get("primary_key", "id"), meta.get("source_column")
    n = _one(con, "select count(*) from auto_records")[0]
    comparisons, kinds, filled = [], {}, {}
    for col in rel.columns:
        if col in (pk, src, "source"):
            continue
        comparison, kinds[col], filled[col] = _comparison(con, col, src)
        if comparison is not None:
            comparisons.append(comparison)
    cols = [c for c in kinds if kinds[c] in ("numeric", "long_text", "short_text")]
    if not cols:
        raise SystemExit("auto profile: no data column to compare")
    rules = _choose_rules(con, cols, src, n)
    pool = [r for r in rules if r[2] >= n / 10 and all(filled[c] >= FILLED for c in r[1])] or rules
    big = [r for r in pool if r[2] >= EM_MIN_PAIRS]
    em = big[:2] if len(big) >= 2 else sorted(pool, key=lambda r: -r[2])[:2]
    em = [r for r in em if set(cols) - set(r[1])]  # a rule on every compared column leaves no m to estimate
    prior = pool + [r for r in rules if r not in pool]

    def named(found: list[tuple]) -> list[tuple]:
        return [(" & ".join(r[0]), block_on(*r[0])) for r in found]

    return {
        "doc_example": "auto: generic settings from column values (module docstring)",
        "link_type": "link_only" if src else "dedupe_only",
        "blocking": [rule for _, rule in named(rules)],
        "comparisons": comparisons,
        "auto": True,
        "prior_rules": named(prior),
        "recall": 0.7,
        "u_max_pairs": 1e7,
        "u_seed": 42,
        "em": named(em),
        "em_without_tf": False,
        "predict_threshold": 0.2,
        "cluster_threshold": 0.95,
        "summary": {"columns": kinds, "blocking_pairs": {" & ".join(r[0]): r[2] for r in rules},
                    "prior_rule": named(prior)[0][0], "em_rules": [name for name, _ in named(em)]},
    }


def choose_profile(name: str, meta: dict) -> dict:
    if name == "person":
        return person_profile()
    return febrl4_profile() if meta.get("source_column") else febrl3_profile()


def register_inputs(db_api: DuckDBAPI, rel, meta: dict, profile: dict) -> list:
    """The records (text columns); one registered table per source for linkage."""
    con = db_api.duckdb_con
    if "concat" in profile:
        name, expr = profile["concat"]
        rel = rel.project(f"*, {expr} as {name}")
    src = meta.get("source_column")
    if not src:
        return [db_api.register(rel, dataset_display_name="records")]
    con.register("records_all", rel)
    sources = [r[0] for r in con.sql(f'select distinct "{src}" from records_all order by 1').fetchall()]
    tables = []
    for s in sources:
        part = con.sql(f"select * from records_all where \"{src}\" = '{s}'")
        tables.append(db_api.register(part, dataset_display_name=f"source_{s}"))
    return tables


def train_auto(linker: Linker, profile: dict, seed: int | None) -> list[str]:
    """Prior, u and m of the ``auto`` profile; every step that raises is logged and skipped.

    A failed step's model is put back as it was before the step: an EM session that raises midway
    leaves the linker with its comparisons filtered (Splink 5.0.0), which would break ``predict``.
    """
    fallbacks = []

    def attempt(what: str, step) -> bool:
        saved = linker._settings_obj.core_model_settings.copy()
        try:
            step()
            return True
        except Exception as exc:  # noqa: BLE001 - any Splink failure falls back, as documented
            linker._settings_obj.core_model_settings = saved
            fallbacks.append(f"{what}: {type(exc).__name__}: {exc}".splitlines()[0][:300])
            print(f"splink_run: {fallbacks[-1]} (continuing)", file=sys.stderr)
            return False

    training = linker.training
    if not any(attempt(f"prior on {name}", lambda r=rule: training.estimate_probability_two_random_records_match(
            [r], recall=profile["recall"])) for name, rule in profile["prior_rules"]):
        fallbacks.append("prior: Splink default 1e-4")
    u_seed = profile["u_seed"] if seed is None else seed
    attempt("u sampling", lambda: training.estimate_u_using_random_sampling(
        max_pairs=profile["u_max_pairs"], seed=u_seed))
    for name, rule in profile["em"]:
        attempt(f"EM on {name}", lambda r=rule: training.estimate_parameters_using_expectation_maximisation(
            r, estimate_without_term_frequencies=profile["em_without_tf"]))
    return fallbacks


def train(linker: Linker, profile: dict, seed: int | None) -> list[str]:
    """Prior, u and m as in the profile's documented example; returns the fallbacks taken."""
    if profile.get("auto"):
        return train_auto(linker, profile, seed)
    linker.training.estimate_probability_two_random_records_match(
        profile["deterministic"], recall=profile["recall"]
    )
    u_seed = profile["u_seed"] if seed is None else seed
    linker.training.estimate_u_using_random_sampling(max_pairs=profile["u_max_pairs"], seed=u_seed)
    for rule in profile["em"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=profile["em_without_tf"]
        )
    return []


def peak_rss_mb() -> dict:
    """Peak resident set size (getrusage maxrss, KiB on Linux) of this process and its children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(own, 1), "peak_rss_children_mb": round(children, 1)}


def cluster_to_csv(linker: Linker, predictions, threshold: float, out: Path) -> None:
    """Connected components at ``threshold``, written as ``id,match_id``."""
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    rel = clusters.as_duckdbpyrelation().select("id, cluster_id as match_id")
    rel.write_csv(str(out), header=True)


def make_linker(args: argparse.Namespace, meta: dict) -> tuple[Linker, dict]:
    """A DuckDB-backed Linker on the bench records with the profile's settings, and the profile."""
    db_api = DuckDBAPI()
    con = db_api.duckdb_con
    if args.threads:
        con.execute(f"set threads={args.threads}")
    rel = con.read_csv(str(args.bench_dir / "records.csv"), all_varchar=True, header=True)
    if args.profile == "auto":
        rel = safe_names(con, rel, meta)
        profile = auto_profile(con, rel, meta)
    else:
        profile = choose_profile(args.profile, meta)
    tables = register_inputs(db_api, rel, meta, profile)
    settings = SettingsCreator(
        unique_id_column_name=meta.get("primary_key", "id"),
        link_type=profile["link_type"],
        blocking_rules_to_generate_predictions=profile["blocking"],
        comparisons=profile["comparisons"],
        retain_intermediate_calculation_columns=False,
    )
    level = logging.INFO if args.verbose else logging.WARNING
    return Linker(tables if len(tables) > 1 else tables[0], settings, log_level=level), profile


def run(args: argparse.Namespace) -> dict:
    """Load, train, predict, cluster and write predictions; time every phase."""
    t0 = time.perf_counter()
    meta = json.loads((args.bench_dir / "meta.json").read_text())
    linker, profile = make_linker(args, meta)
    t1 = time.perf_counter()
    fallbacks = train(linker, profile, args.seed)
    t2 = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=profile["predict_threshold"])
    t3 = time.perf_counter()
    threshold = profile["cluster_threshold"] if args.threshold is None else args.threshold
    cluster_to_csv(linker, predictions, threshold, args.out)
    t4 = time.perf_counter()
    phases = {"load": t1 - t0, "train": t2 - t1, "predict": t3 - t2, "cluster_and_write": t4 - t3}
    result = {
        "dataset": str(args.bench_dir),
        "profile": args.profile,
        "doc_example": profile["doc_example"],
        "splink": splink.__version__,
        "duckdb": duckdb.__version__,
        "n_records": meta.get("n_records"),
        "cluster_threshold": threshold,
        "predicted_edges": predictions.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0],
        "seconds": round(t4 - t0, 2),
        "seconds_by_phase": {k: round(v, 2) for k, v in phases.items()},
        **peak_rss_mb(),
        "predictions_csv": str(args.out),
    }
    if profile.get("auto"):
        result |= {"auto": profile["summary"], "fallbacks": fallbacks}
    return result | score(linker, predictions, args, threshold)


def score(linker: Linker, predictions, args: argparse.Namespace, threshold: float) -> dict:
    """Pairwise scores of the written predictions, and of other thresholds if ``--sweep``."""
    truth, source, _ = load_bench(args.bench_dir)
    out = {"scores": pairwise_scores(read_csv(args.out), truth, source)}
    if args.sweep:
        f1 = {}
        with tempfile.TemporaryDirectory() as tmp:
            for t in sorted(set(SWEEP) | {threshold}):
                path = Path(tmp) / f"pred_{t}.csv"
                cluster_to_csv(linker, predictions, t, path)
                f1[str(t)] = round(pairwise_scores(read_csv(path), truth, source)["f1"], 5)
        out["f1_by_threshold"] = f1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_dir", type=Path, help="folder with records.csv, truth.csv, meta.json")
    parser.add_argument("--profile", choices=["febrl", "person", "auto"], required=True)
    parser.add_argument("--out", type=Path, help="predictions CSV (default: in the temp folder)")
    parser.add_argument("--threshold", type=float, help="cluster match probability (default: profile's)")
    parser.add_argument("--sweep", action="store_true", help="also report F1 at other thresholds")
    parser.add_argument("--seed", type=int, help="seed of u random sampling (default: profile's)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    parser.add_argument("--verbose", action="store_true", help="Splink INFO logs on stderr")
    args = parser.parse_args(argv)
    if args.out is None:
        folder = args.bench_dir.resolve()
        name = folder.parent.name if folder.name == "bench" else folder.name
        args.out = Path(tempfile.gettempdir()) / f"splink_{name}_{args.profile}.csv"
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
