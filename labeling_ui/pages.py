"""The web labeling UI: HTML shells (no data, no auth) whose vanilla JS calls /api/v1 with the stored token."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, render_template, request

from services import run_types
from storage.run_status import ACTIVE

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/ui-static")

# route -> (endpoint, template, title); the titles are what the browser tab and the tests see
PAGES = {
    "/": ("signin", "signin.html", "Sign in"),
    "/datasets": ("datasets", "datasets.html", "Datasets"),
    "/datasets/<dataset_id>": ("dataset", "dataset.html", "Dataset"),
    "/transforms": ("transforms", "transforms.html", "Transforms"),
    "/transforms/new": ("transform_new", "transform_edit.html", "New transform"),
    "/transforms/<transform_id>/edit": ("transform_edit", "transform_edit.html", "Edit transform"),
    "/transforms/<transform_id>/runs": ("runs", "runs.html", "Task runs"),
    "/transforms/<transform_id>/label": ("label", "label.html", "Labeling"),
    "/transforms/<transform_id>/quality": ("quality", "quality.html", "Quality"),
    "/transforms/<transform_id>/matches": ("matches", "matches.html", "Matches"),
    "/transforms/<transform_id>/runs/<run_id>": ("run", "run.html", "Task run"),
    "/transforms/<transform_id>/entities": ("entities", "entities.html", "Entities"),
    "/transforms/<transform_id>/entities/<match_id>": ("entity", "entity.html", "Entity"),
    "/transforms/<transform_id>/team": ("team", "team.html", "Team"),
    "/users": ("users", "users.html", "Users"),
}


AFTER_SIGNIN = "/transforms"
_NOT_IN_A_PATH = re.compile(r"[\\\x00-\x20\x7f]")  # backslash, controls, space: browsers read /\x or /\t/x as //x


def safe_next(value: str | None) -> str:
    """Where sign-in may send the user: a path of this site (``/x?y``), else the transforms page. Refused:
    ``//host``, ``/\\host``, ``https:host``, ``javascript:...``, and paths with controls or spaces."""
    if not value or not value.startswith("/") or value.startswith("//") or _NOT_IN_A_PATH.search(value):
        return AFTER_SIGNIN
    parts = urlsplit(value)
    return AFTER_SIGNIN if parts.scheme or parts.netloc else value


@bp.context_processor
def _run_registries() -> dict[str, Any]:
    """What the pages call each task run type, which types the runs page's buttons start and which statuses are
    active, from the registries (the runs page reads the labels and statuses as JSON)."""
    return {"run_type_labels": {name: run_type.label for name, run_type in run_types.REGISTRY.items()},
            "start_buttons": start_buttons(), "active_statuses": [status.value for status in ACTIVE]}


def start_buttons() -> list[tuple[str, str]]:
    """(type, label) of each type the runs page starts with a bare button: a startable type needing no parameter
    (one that needs one, such as the batch of an incremental run, has a form of its own)."""
    return [(name, run_types.get(name).label) for name in run_types.startable() if not run_types.get(name).required()]


def _view(template: str, title: str) -> Any:
    def view(**ids: str) -> Any:
        response = render_template(template, title=title, ids=ids, next_path=safe_next(request.args.get("next")))
        return response, 200, {"Cache-Control": "no-store"}
    return view


for _rule, (_endpoint, _template, _title) in PAGES.items():
    bp.add_url_rule(_rule, _endpoint, _view(_template, _title))
