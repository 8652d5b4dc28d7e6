"""A FIND_MATCHES cluster's pairs through the REST API: a real run (the engine called in-process on the run the
API started, as a worker would) publishes pairs.parquet; GET /task-runs/ID/clusters/MATCH_ID/pairs reads it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from api_support import Api, is_problem, people_frame, set_status, sqlite_api

from services import engine
from storage.artifacts import ArtifactStore

ROWS = 600  # the whole people fixture: below ~700 records every pair is a candidate
DATA_COLUMNS = [c for c in people_frame(1).columns if c != "id"]


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, str, str]]:
    """(api, transform id, id of a SUCCEEDED FIND_MATCHES run) shared by the tests of this module."""
    api = sqlite_api(tmp_path_factory.mktemp("clusters"))
    tid = api.transform(rows=ROWS)["id"]
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert api.queue.enqueued == [run["id"]]
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED"
    yield api, tid, run["id"]
    api.db.engine.dispose()


def outputs(api: Api, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = api.config.data_dir / "outputs" / run_id
    return pd.read_parquet(folder / "matches.parquet"), pd.read_parquet(folder / "pairs.parquet")


def largest_cluster(matches: pd.DataFrame) -> tuple[str, list[str]]:
    sizes = matches["match_id"].value_counts()
    match_id = str(sizes.index[0])
    assert sizes.iloc[0] >= 3, "the people fixture has clusters of three or more"
    return match_id, matches.loc[matches["match_id"].astype(str) == match_id, "id"].astype(str).tolist()


def test_find_matches_publishes_the_pairs_inside_clusters(matched: tuple[Api, str, str]) -> None:
    api, _, run_id = matched
    matches, pairs = outputs(api, run_id)
    assert list(pairs.columns[:4]) == ["match_id", "key_a", "key_b", "match_probability"]
    assert list(pairs.columns[4:]) == [f"{c}_contribution" for c in DATA_COLUMNS]
    cluster_of = matches.set_index("id")["match_id"]
    assert (pairs["key_a"].map(cluster_of) == pairs["match_id"]).all()
    assert (pairs["key_b"].map(cluster_of) == pairs["match_id"]).all()
    assert (pairs["match_probability"] >= 0.05).all()
    clustered = matches[matches["match_id"].duplicated(keep=False)]
    assert set(pairs["match_id"]) == set(clustered["match_id"])  # every cluster is explained, no lone record


def test_a_cluster_s_pairs_with_probabilities_and_contributions(matched: tuple[Api, str, str]) -> None:
    api, _, run_id = matched
    matches, _ = outputs(api, run_id)
    match_id, members = largest_cluster(matches)
    response = api.call("GET", f"/task-runs/{run_id}/clusters/{match_id}/pairs", api.labeler)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["run_id"], body["match_id"], body["min_probability"]) == (run_id, match_id, 0.05)
    pairs = body["pairs"]
    assert 2 <= len(pairs) <= len(members) * (len(members) - 1) // 2
    assert all({p["key_a"], p["key_b"]} <= set(members) and p["key_a"] != p["key_b"] for p in pairs)
    probabilities = [p["probability"] for p in pairs]
    assert probabilities == sorted(probabilities, reverse=True) and 0.5 <= probabilities[0] <= 1
    assert _connected(members, [(p["key_a"], p["key_b"]) for p in pairs if p["probability"] >= 0.5])
    records = people_frame(ROWS).set_index("id")
    for pair in pairs:
        assert list(pair["contributions"]) == DATA_COLUMNS
        assert all(isinstance(v, float) for v in pair["contributions"].values())
        _assert_explains(pair, records)


def _connected(members: list[str], links: list[tuple[str, str]]) -> bool:
    """Clusters grow only over links at or above the threshold (0.5), so those links span the cluster."""
    reached, frontier = {members[0]}, [members[0]]
    while frontier:
        here = frontier.pop()
        for a, b in links:
            other = b if a == here else a if b == here else None
            if other is not None and other not in reached:
                reached.add(other)
                frontier.append(other)
    return reached == set(members)


def _assert_explains(pair: dict[str, Any], records: pd.DataFrame) -> None:
    """Unsupervised contributions are Fellegi-Sunter weights: identical values are evidence for the match (one
    common value, a city, may weigh slightly against), and a linked pair (>= 0.5) needs more for than against."""
    a, b = records.loc[pair["key_a"]], records.loc[pair["key_b"]]
    same = [c for c in DATA_COLUMNS if a[c] and a[c] == b[c]]
    if same:
        assert sum(pair["contributions"][c] for c in same) > 0, (same, pair)
    if a["dob"] and a["dob"] == b["dob"]:
        assert pair["contributions"]["dob"] > 1, pair  # a birth date is shared by few people
    if pair["probability"] >= 0.5:
        assert sum(pair["contributions"].values()) > 0, pair


def test_a_lone_record_is_a_cluster_without_pairs(matched: tuple[Api, str, str]) -> None:
    api, _, run_id = matched
    matches, _ = outputs(api, run_id)
    lone = matches.loc[~matches["match_id"].duplicated(keep=False), "match_id"].iloc[0]
    body = api.call("GET", f"/task-runs/{run_id}/clusters/{lone}/pairs").get_json()
    assert (body["match_id"], body["pairs"]) == (str(lone), [])


def test_missing_runs_clusters_and_files_are_404s_naming_what_is_missing(matched: tuple[Api, str, str]) -> None:
    api, tid, run_id = matched
    assert "nope" in is_problem(api.call("GET", "/task-runs/nope/clusters/r0000000/pairs"), 404)["detail"]
    detail = is_problem(api.call("GET", f"/task-runs/{run_id}/clusters/no-such-key/pairs"), 404)["detail"]
    assert "'no-such-key'" in detail and run_id in detail

    export = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "EXPORT_LABELS"}).get_json()
    set_status(api, export["id"], "SUCCEEDED")
    assert "EXPORT_LABELS" in is_problem(api.call("GET", f"/task-runs/{export['id']}/clusters/x/pairs"), 404)["detail"]

    queued = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert "STARTING" in is_problem(api.call("GET", f"/task-runs/{queued['id']}/clusters/x/pairs"), 404)["detail"]
    set_status(api, queued["id"], "SUCCEEDED")  # as if finished before pairs were published: no pairs.parquet
    folder = Path(api.config.data_dir) / "outputs" / queued["id"]
    folder.mkdir(parents=True)
    outputs(api, run_id)[0].to_parquet(folder / "matches.parquet")
    assert "pairs.parquet" in is_problem(api.call("GET", f"/task-runs/{queued['id']}/clusters/x/pairs"), 404)["detail"]
    is_problem(api.call("GET", f"/task-runs/{run_id}/clusters/x/pairs", ""), 401)


def test_every_pair_of_a_cluster_is_listed_once(matched: tuple[Api, str, str]) -> None:
    api, _, run_id = matched
    _, pairs = outputs(api, run_id)
    seen = [frozenset(p) for p in zip(pairs["key_a"], pairs["key_b"], strict=True)]
    assert len(seen) == len(set(seen))
    for match_id, group in itertools.islice(pairs.groupby("match_id"), 5):
        body = api.call("GET", f"/task-runs/{run_id}/clusters/{match_id}/pairs").get_json()
        assert len(body["pairs"]) == len(group)


def test_contributions_are_bounded_and_go_to_the_clusters_reviewed_first(people_matcher, monkeypatch) -> None:
    """At 1M records ~500k pairs sit inside clusters: only the first EXPLAINED_PAIRS in the Matches page's
    order (largest cluster first) get contributions, every pair keeps its probability."""
    from services import clusters

    result = people_matcher.predict()
    everything = clusters.within_clusters(people_matcher, result.records)
    monkeypatch.setattr(clusters, "EXPLAINED_PAIRS", 3)
    capped = clusters.within_clusters(people_matcher, result.records)
    pd.testing.assert_frame_equal(capped.iloc[:, :4], everything.iloc[:, :4])
    explained = capped[capped["dob_contribution"].notna()]
    assert len(explained) == 3 and everything["dob_contribution"].notna().all()
    sizes = result.records["match_id"].astype(str).value_counts()
    assert (sizes[explained["match_id"]] == sizes.max()).all()  # the largest clusters are reviewed first
    merged = explained.merge(everything, on=["key_a", "key_b"], suffixes=("", "_all"))
    np.testing.assert_allclose(merged["dob_contribution"], merged["dob_contribution_all"])


def test_clusters_come_in_pages_largest_then_least_confident(matched: tuple[Api, str, str]) -> None:
    api, _, run_id = matched
    matches, _ = outputs(api, run_id)
    first = api.call("GET", f"/task-runs/{run_id}/clusters?limit=7").get_json()
    second = api.call("GET", f"/task-runs/{run_id}/clusters?offset=7&limit=7").get_json()
    sizes = matches["match_id"].value_counts()
    assert first["total_clusters"] == int((sizes >= 2).sum())
    assert first["records_in_clusters"] == int(sizes[sizes >= 2].sum())
    assert first["columns"] == list(matches.columns)
    listed = first["clusters"] + second["clusters"]
    assert len(first["clusters"]) == 7 and not {c["match_id"] for c in first["clusters"]} & {
        c["match_id"] for c in second["clusters"]}
    order = [(-c["size"], c["mean_confidence"], c["match_id"]) for c in listed]
    assert order == sorted(order)
    assert listed[0]["size"] == sizes.iloc[0]
    for cluster in listed:
        members = matches[matches["match_id"].astype(str) == cluster["match_id"]]
        assert sorted(r["id"] for r in cluster["records"]) == sorted(members["id"])
        assert cluster["size"] == len(members) >= 2
        assert cluster["mean_confidence"] == pytest.approx(members["match_confidence_score"].astype(float).mean())
    beyond = api.call("GET", f"/task-runs/{run_id}/clusters?offset=100000").get_json()
    assert beyond["clusters"] == [] and beyond["total_clusters"] == first["total_clusters"]


HUGE = [str(2**63 - 1), str(2**63), str(-(2**63) - 1), "1" + "0" * 40, "9" * 5000]


@pytest.mark.parametrize(("query", "field"), [("limit=0", "limit"), ("limit=501", "limit"), ("offset=-1", "offset"),
                                              ("limit=ten", "limit"), ("offset=1e3", "offset"),
                                              *[(f"offset={n}", "offset") for n in HUGE],
                                              *[(f"limit={n}", "limit") for n in HUGE]])
def test_bad_cluster_pages_are_422_naming_the_parameter(matched: tuple[Api, str, str], query: str,
                                                        field: str) -> None:
    """offset=9223372036854775807 was a 500 (offset + limit overflowed the Parquet filter)."""
    api, _, run_id = matched
    body = is_problem(api.call("GET", f"/task-runs/{run_id}/clusters?{query}"), 422, field)
    assert body["detail"].startswith(field) and len(body["detail"]) < 200  # a 5000-digit value is not echoed


def test_the_last_allowed_offset_is_an_empty_page(matched: tuple[Api, str, str]) -> None:
    from services.clusters import MAX_OFFSET

    api, _, run_id = matched
    page = api.call("GET", f"/task-runs/{run_id}/clusters?offset={MAX_OFFSET}&limit=500").get_json()
    assert page["clusters"] == [] and page["offset"] == MAX_OFFSET


def test_the_page_says_when_the_unsupervised_matches_are_not_to_be_trusted(
        matched: tuple[Api, str, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Employees of 20 firms, nobody twice: the cold start takes the firm for the person, and the Matches page's
    API says so (with the evidence) above the clusters; the people fixture's page has no warning."""
    from test_cold_start import employees

    api, _, people_run = matched
    assert api.call("GET", f"/task-runs/{people_run}/clusters").get_json()["warning"] is None
    upload = api.upload(employees().to_csv(index=False).encode(), filename="employees.csv")
    assert upload.status_code == 201, upload.get_json()
    body = {"name": "employees", "dataset_id": upload.get_json()["id"], "primary_key": "id"}
    tid = api.call("POST", "/transforms", json=body).get_json()["id"]
    run = api.call("POST", f"/transforms/{tid}/task-runs", json={"type": "FIND_MATCHES"}).get_json()
    assert engine.execute(api.db, ArtifactStore(api.config.data_dir), run["id"]) == "SUCCEEDED"
    warning = api.call("GET", f"/task-runs/{run['id']}/clusters").get_json()["warning"]
    assert warning.startswith("the unsupervised model found no reliable identity signal") and "groups share" in warning
