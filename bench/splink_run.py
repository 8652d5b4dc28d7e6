"""Baseline: Splink 5 (DuckDB backend) on a bench folder, with its documented settings.

Usage (Splink lives in its own venv; create it once with ``bash bench/setup_splink.sh``)::

    bench/.venv-splink/bin/python bench/splink_run.py BENCH_DIR --profile febrl|person \\
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

Where an example leaves u sampling unseeded, seed 42 is used so that runs repeat.
Columns are read as text; empty fields are nulls. Splink logs go to stderr (``--verbose``).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
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


def choose_profile(name: str, meta: dict) -> dict:
    if name == "person":
        return person_profile()
    return febrl4_profile() if meta.get("source_column") else febrl3_profile()


def register_inputs(db_api: DuckDBAPI, bench_dir: Path, meta: dict, profile: dict) -> list:
    """records.csv as text columns; one registered table per source for linkage."""
    con = db_api.duckdb_con
    rel = con.read_csv(str(bench_dir / "records.csv"), all_varchar=True, header=True)
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


def train(linker: Linker, profile: dict, seed: int | None) -> None:
    """Prior, u and m as in the profile's documented example."""
    linker.training.estimate_probability_two_random_records_match(
        profile["deterministic"], recall=profile["recall"]
    )
    u_seed = profile["u_seed"] if seed is None else seed
    linker.training.estimate_u_using_random_sampling(max_pairs=profile["u_max_pairs"], seed=u_seed)
    for rule in profile["em"]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=profile["em_without_tf"]
        )


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


def make_linker(args: argparse.Namespace, meta: dict, profile: dict) -> Linker:
    """A DuckDB-backed Linker on the bench records with the profile's settings."""
    db_api = DuckDBAPI()
    if args.threads:
        db_api.duckdb_con.execute(f"set threads={args.threads}")
    tables = register_inputs(db_api, args.bench_dir, meta, profile)
    settings = SettingsCreator(
        unique_id_column_name=meta.get("primary_key", "id"),
        link_type=profile["link_type"],
        blocking_rules_to_generate_predictions=profile["blocking"],
        comparisons=profile["comparisons"],
        retain_intermediate_calculation_columns=False,
    )
    level = logging.INFO if args.verbose else logging.WARNING
    return Linker(tables if len(tables) > 1 else tables[0], settings, log_level=level)


def run(args: argparse.Namespace) -> dict:
    """Load, train, predict, cluster and write predictions; time every phase."""
    t0 = time.perf_counter()
    meta = json.loads((args.bench_dir / "meta.json").read_text())
    profile = choose_profile(args.profile, meta)
    linker = make_linker(args, meta, profile)
    t1 = time.perf_counter()
    train(linker, profile, args.seed)
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
    parser.add_argument("--profile", choices=["febrl", "person"], required=True)
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
