"""The OpenAPI description of the labeling workforce's routes (labeling_ui.workforce_api) and of the labeling
policy (services.labeling_policy)."""

from __future__ import annotations

from typing import Any

from labeling_ui.openapi_parts import BOOL, INT, NSTR, STR
from labeling_ui.openapi_parts import obj as _obj
from labeling_ui.openapi_parts import ref as _ref
from services import label_history
from services.labeling_policy import AUTO_LABEL_MODES, MAX_ANSWERS, MAX_GOLD_SHARE, METHODS

NNUM = {"type": ["number", "null"]}
UNIT = {"type": "number", "minimum": 0, "maximum": 1}
LABELS = {"type": "object", "additionalProperties": STR, "description": "record key -> label"}




def policy_schema() -> dict[str, Any]:
    return {"type": ["object", "null"], "additionalProperties": False,
            "description": "how sets are labeled (README: Labeling with a team); null: every default",
            "properties": {
                "answers_per_set": {"type": "integer", "minimum": 1, "maximum": MAX_ANSWERS},
                "blind": BOOL, "gold_share": {"type": "number", "minimum": 0, "maximum": MAX_GOLD_SHARE},
                "consolidation": {"type": "string", "enum": list(METHODS)},
                "weight_by_confidence": {"type": "boolean", "description": "training counts each consolidated "
                                         "pair with the posterior of its decided side; false: once each"},
                "review_band": {"type": "array", "items": UNIT, "minItems": 2, "maxItems": 2},
                "accuracy_floor": UNIT, "min_pairs_to_flag": {"type": "integer", "minimum": 1, "maximum": 10_000},
                "auto_label_target": {"type": ["number", "null"], "exclusiveMinimum": 0.5, "exclusiveMaximum": 1,
                                      "description": "label automatically the sets the model is sure of at this "
                                                     "accuracy; null: off"},
                "auto_label_check_share": UNIT,
                "auto_label_mode": {"type": "string", "enum": list(AUTO_LABEL_MODES),
                                    "description": "sets: the machine labels only whole sets it is sure of; "
                                                   "complete: also the sure records of the other sets (followers of "
                                                   "an anchor humans label, groups settled apart), humans seeing the "
                                                   "rest; the machine's records join the set's labels once decided"}}}


def labeling_paths(op: Any, json: Any, body: Any, path_param: Any, query: Any) -> dict[str, Any]:
    """``op``, ``json``, ``body``, ``path_param`` and ``query`` are labeling_ui.openapi's helpers."""
    tf, sid = path_param("transform_id"), path_param("set_id")
    page = [query("offset", {"type": "integer", "minimum": 0, "maximum": label_history.MAX_OFFSET}, "events to skip"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": label_history.MAX_PAGE},
                  "events per page (default 100)")]
    return {
        "/transforms/{transform_id}/labeling-queue/next": {
            "parameters": [tf],
            "get": op("The next set for the caller to answer: one that still needs answers and that the caller has "
                      "not answered (gold sets mixed in at the policy's share), reserved for the caller for 30 "
                      "minutes or until they answer; set_id null when none is left (the message says why)",
                      {"200": json("NextSet", "The next set")}, "401 404"),
        },
        "/transforms/{transform_id}/review-queue": {
            "parameters": [tf],
            "get": op("Sets whose consolidated answer is uncertain (reviewers and admins)",
                      {"200": json("ReviewQueue", "Sets to review")}, "401 403 404"),
        },
        "/transforms/{transform_id}/labeling-sets/{set_id}/review": {
            "parameters": [tf, sid],
            "put": op("A reviewer's decision: replaces the set's labels until the next review (reviewers, admins)",
                      {"200": json("LabelingSet", "Decided")}, "400 401 403 404 409 415 422",
                      requestBody=body("ReviewPut")),
        },
        "/transforms/{transform_id}/labeling-sets/{set_id}/gold": {
            "parameters": [tf, sid],
            "put": op("Mark a labeled set as gold (its labels frozen as the answer key) or unmark it (admins)",
                      {"200": json("LabelingSet", "Marked")}, "400 401 403 404 415 422",
                      requestBody=body("GoldPut")),
        },
        "/transforms/{transform_id}/labelers": {
            "parameters": [tf],
            "get": op("Each labeler's answers and accuracy (on gold sets; estimated by the consolidation), with "
                      "flags under the policy's floor (reviewers and admins)",
                      {"200": json("LabelerStats", "Labelers")}, "401 403 404"),
        },
        "/transforms/{transform_id}/label-history": {
            "parameters": [tf],
            "get": op("The audit trail: every change of an answer or of a set's labels, oldest first; format=csv "
                      "downloads all of it (reviewers and admins)",
                      {"200": {"description": "One page of events, or the CSV",
                               "content": {"application/json": {"schema": _ref("LabelHistory")},
                                           "text/csv": {"schema": {"type": "string"}}}}}, "401 403 404 422",
                      parameters=[*page, query("format", {"type": "string", "enum": ["json", "csv"]},
                                               "csv: every event as a CSV file")]),
        },
        "/transforms/{transform_id}/labeling-sets/{set_id}/history": {
            "parameters": [tf, sid],
            "get": op("One set's audit trail (reviewers and admins)", {"200": json("LabelHistory", "Events")},
                      "401 403 404 422", parameters=page),
        },
    }


def labeling_schemas() -> dict[str, Any]:
    pair = _obj({"key_a": STR, "key_b": STR, "posterior": {"type": "number"}, "n_answers": INT,
                 "n_match_votes": INT, "why": STR})
    return {
        "NextSet": _obj({"set_id": NSTR, "remaining": INT, "message": STR}, ("set_id", "remaining", "message")),
        "ReviewQueue": _obj({"sets": {"type": "array", "items": _obj(
            {"set_id": STR, "size": INT, "answers": INT, "uncertain_pairs": INT, "method": NSTR})}}, ("sets",)),
        "ReviewPut": _obj({"labels": {"type": "array", "items": _ref("LabelPut")},
                           "note": {"type": "string", "maxLength": 2000}}, ("labels",), additionalProperties=False),
        "GoldPut": _obj({"gold": BOOL}, ("gold",), additionalProperties=False),
        "Answer": _obj({"labeler": STR, "answered_at": STR,
                        "labels": {"type": "array", "items": _obj({"record_key": STR, "label": STR})}}),
        "Consolidation": {"type": ["object", "null"], "properties": {
            "method": STR, "reason": STR, "answers": INT, "uncertain_pairs": {"type": "array", "items": pair}}},
        "LabelerStats": _obj({"transform_id": STR, "consolidation": NSTR, "reason": STR, "labelers": {
            "type": "array", "items": _obj({
                "labeler": STR, "sets_answered": INT, "pairs_answered": INT, "gold_pairs": INT,
                "gold_accuracy": NNUM, "estimated_accuracy": NNUM, "sensitivity": NNUM, "specificity": NNUM,
                "flagged": BOOL, "flags": {"type": "array", "items": STR}})}}, ("labelers",)),
        "LabelEvent": _obj({"id": INT, "labeling_set_id": STR, "actor": STR,
                            "source": {"type": "string", "enum": list(label_history.SOURCES)},
                            "action": {"type": "string", "enum": list(label_history.ACTIONS)}, "at": STR,
                            "before": LABELS, "after": LABELS, "note": NSTR}),
        "LabelHistory": _obj({"transform_id": STR, "total": INT, "offset": INT, "limit": INT,
                              "events": {"type": "array", "items": _ref("LabelEvent")}}, ("total", "events")),
    }


def labeling_set_fields() -> dict[str, Any]:
    """What a set adds for the workforce; who sees what depends on the caller's role (README)."""
    return {"answers_wanted": INT, "answer_count": INT, "answered_by_me": BOOL,
            "answers": {"type": ["array", "null"], "items": _ref("Answer"),
                        "description": "each labeler's answer: null for labelers"},
            "gold": {"type": ["boolean", "null"], "description": "null for labelers"},
            "review_state": {"type": ["string", "null"], "enum": ["needed", "decided", None]},
            "consolidation": _ref("Consolidation"), "blind": BOOL,
            "machine_records": {"type": "integer", "minimum": 0, "description": (
                "records of the set the machine labels itself when the humans' answer is saved (labeling policy "
                "auto_label_mode complete); labelers see only the others")}}
