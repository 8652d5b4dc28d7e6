"""The web UI's page routes (Flask test client, fast): every page is served without a token, with its title."""

from __future__ import annotations

import html as htmlmod
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from api_support import Api, sqlite_api

PAGES = {"/": "Sign in", "/datasets": "Datasets", "/datasets/d1": "Dataset", "/transforms": "Transforms",
         "/transforms/new": "New transform", "/transforms/t1/edit": "Edit transform",
         "/transforms/t1/runs": "Task runs", "/transforms/t1/label": "Labeling", "/transforms/t1/quality": "Quality",
         "/transforms/t1/matches": "Matches", "/transforms/t1/runs/r1": "Task run",
         "/transforms/t1/entities": "Entities", "/transforms/t1/entities/7": "Entity", "/transforms/t1/team": "Team",
         "/users": "Users"}
STATIC = ("app.js", "app.css", "signin.js", "datasets.js", "transforms.js", "runs.js", "label.js", "quality.js",
          "matches.js", "users.js", "run.js", "entities.js", "label_team.js", "team.js")


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_page_routes_answer_with_their_title(api: Api, path: str, title: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"<title>{title} · matcher</title>" in html
    assert "/ui-static/app.js" in html


def test_static_assets_are_served(api: Api) -> None:
    for name in STATIC:
        response = api.client.get(f"/ui-static/{name}")
        assert response.status_code == 200, name
        response.close()


def test_the_quality_page_has_the_chart_containers(api: Api) -> None:
    html = api.client.get("/transforms/t1/quality").get_data(as_text=True)
    for container in ("pr-curve", "importance", "score-histogram", "learning-curve", "stop-advice", "stop-curve"):
        assert f'id="{container}"' in html, container


def test_me_names_the_caller(api: Api) -> None:
    assert api.call("GET", "/me").get_json()["name"] == "alice"
    body = api.call("GET", "/me", api.labeler).get_json()
    assert (body["name"], body["role"]) == ("lena", "labeler")
    response = api.call("GET", "/me", "")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def signin_target(api: Api, query: str) -> str:
    html = api.client.get(f"/?{query}").get_data(as_text=True)
    found = re.search(r'<form id="signin-form"[^>]* data-next="([^"]*)"', html)
    assert found, html
    return htmlmod.unescape(found.group(1))


@pytest.mark.parametrize("target", ["/\\evil.example", "//evil.example", "https:evil.example", "https://evil.example",
                                    "/\\/evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
                                    "javascript:alert(1)", "evil.example", " //evil.example", "/ /evil.example",
                                    "%2F%2Fevil.example", ""])
def test_sign_in_goes_only_to_paths_of_this_site(api: Api, target: str) -> None:
    """?next=/\\evil.example was an open redirect: browsers read the backslash as a slash."""
    assert signin_target(api, urlencode({"next": target})) == "/transforms"


@pytest.mark.parametrize("target", ["/transforms/t1/runs", "/transforms/t1/label?set=a&b=c", "/datasets/%2F%2Fx",
                                    "/"])
def test_sign_in_returns_to_the_page_that_sent_there(api: Api, target: str) -> None:
    assert signin_target(api, urlencode({"next": target})) == target


def test_every_response_carries_the_security_headers(api: Api) -> None:
    """Pages, static files, API answers, problem JSON (401, 404, 405) and the health check."""
    from labeling_ui.security import HEADERS

    responses = [api.client.get("/"), api.client.get("/transforms/t1/label"), api.client.get("/ui-static/app.js"),
                 api.call("GET", "/me"), api.call("GET", "/me", ""), api.call("GET", "/datasets/nope"),
                 api.call("PUT", "/datasets"), api.client.get("/healthz"), api.client.get("/no-such-page"),
                 api.call("GET", "/openapi.json")]
    for response in responses:
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (response.request.path, response.status_code, name)
        response.close()
    policy = HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("path", PAGES)
def test_pages_hold_no_inline_script_or_style(api: Api, path: str) -> None:
    """What the Content-Security-Policy would block: script bodies, event-handler and style attributes."""
    html = api.client.get(path).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
    assert not re.search(r"\s(on[a-z]+|style)\s*=", html), path


def test_the_runs_page_links_the_entities_and_offers_a_batch_run(api: Api) -> None:
    html = api.client.get("/transforms/t1/runs").get_data(as_text=True)
    assert 'href="entities"' in html and 'id="incremental"' in html and '<label for="batch">' in html
