"""Users and tokens through the REST API (issue 15, defect 5): admins create, list, disable and enable users, make,
rotate, list and revoke tokens with an optional expiry; a revoked or expired token, or a disabled user's, is a 401
that says which; labelers get 403; invalid input is a 4xx naming the field and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_support import Api, is_problem, sqlite_api
from sqlalchemy import func, select, update

from storage.models import ApiToken, User


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return sqlite_api(tmp_path)


def user_id(api: Api, name: str) -> str:
    return next(u["id"] for u in api.call("GET", "/users").get_json()["users"] if u["name"] == name)


def counts(api: Api) -> tuple[int, int]:
    with api.db.session() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(ApiToken)))


def test_an_admin_creates_a_user_whose_token_works_and_is_shown_once(api: Api) -> None:
    created = api.call("POST", "/users", json={"name": "bob", "role": "labeler", "expires_in_days": 30})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    user, token = body["user"], body["token"]
    assert (user["name"], user["role"], user["disabled_at"], user["active_tokens"]) == ("bob", "labeler", None, 1)
    assert created.headers["Location"].endswith(f"/api/v1/users/{user['id']}")
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)

    me = api.call("GET", "/me", token["secret"]).get_json()
    assert (me["name"], me["role"]) == ("bob", "labeler")
    listed = api.call("GET", f"/users/{user['id']}/tokens").get_json()["tokens"]
    assert [t["id"] for t in listed] == [token["id"]] and "secret" not in listed[0]
    assert listed[0]["status"] == "active" and listed[0]["last_used_at"] is not None
    with api.db.session() as session:  # only the hash is stored
        stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.id == token["id"]))
    assert stored != token["secret"] and len(stored) == 64
    names = [u["name"] for u in api.call("GET", "/users").get_json()["users"]]
    assert names == ["alice", "lena", "bob"]


def test_labelers_may_not_see_or_manage_users(api: Api) -> None:
    lena = user_id(api, "lena")
    for method, path, body in [("GET", "/users", None), ("POST", "/users", {"name": "x", "role": "admin"}),
                               ("GET", f"/users/{lena}/tokens", None), ("POST", f"/users/{lena}/tokens", {}),
                               ("POST", f"/users/{lena}/disable", None)]:
        is_problem(api.call(method, path, api.labeler, json=body), 403)
    is_problem(api.call("GET", "/users", ""), 401)
    assert counts(api) == (2, 2)


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"role": "admin"}, 422, "name"),
    ({"name": " ", "role": "admin"}, 422, "name"),
    ({"name": "x" * 201, "role": "admin"}, 422, "name"),
    ({"name": "bob", "role": "owner"}, 422, "role"),
    ({"name": "bob", "role": "admin", "colour": "red"}, 422, "colour"),
    ({"name": "bob", "role": "admin", "expires_in_days": 0}, 422, "expires_in_days"),
    ({"name": "bob", "role": "admin", "expires_in_days": "7"}, 422, "expires_in_days"),
    ({"name": "bob", "role": "admin", "expires_in_days": True}, 422, "expires_in_days"),
    ({"name": "bob", "role": "admin", "expires_at": "next week"}, 422, "expires_at"),
    ({"name": "bob", "role": "admin", "expires_at": "2001-01-01T00:00:00Z"}, 422, "expires_at"),
    ({"name": "bob", "role": "admin", "expires_at": "2030-01-01", "expires_in_days": 3}, 422, "expires_at"),
    ({"name": "bob", "role": "admin", "token_name": ""}, 422, "token_name"),
    ({"name": "lena", "role": "admin"}, 409, "name"),
])
def test_invalid_users_are_refused_naming_the_field_and_nothing_is_written(
        api: Api, body: dict[str, object], status: int, field: str) -> None:
    is_problem(api.call("POST", "/users", json=body), status, field)
    assert counts(api) == (2, 2)


def test_malformed_bodies_are_4xx(api: Api) -> None:
    is_problem(api.call("POST", "/users", json=["bob"]), 422)
    is_problem(api.call("POST", "/users", data="name=bob", content_type="text/plain"), 415)
    is_problem(api.call("POST", "/users", data="{", content_type="application/json"), 400)
    lena = user_id(api, "lena")
    is_problem(api.call("POST", f"/users/{lena}/tokens", json={"revoke_others": "yes"}), 422, "revoke_others")
    is_problem(api.call("POST", "/users/nobody/tokens", json={}), 404)
    is_problem(api.call("POST", f"/users/{lena}/tokens/nope/revoke"), 404)
    assert counts(api) == (2, 2)


def test_an_iso_expiry_is_kept_and_an_expired_token_is_refused_saying_so(api: Api) -> None:
    lena = user_id(api, "lena")
    made = api.call("POST", f"/users/{lena}/tokens", json={"name": "ci", "expires_at": "2031-05-01T12:00:00+02:00"})
    assert made.status_code == 201, made.get_json()
    token = made.get_json()["token"]
    assert token["expires_at"] == "2031-05-01T10:00:00Z" and token["name"] == "ci"
    assert api.call("GET", "/me", token["secret"]).status_code == 200
    with api.db.session() as session:  # time passes
        session.execute(update(ApiToken).where(ApiToken.id == token["id"])
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert "expired" in is_problem(api.call("GET", "/me", token["secret"]), 401)["detail"]
    listed = {t["id"]: t["status"] for t in api.call("GET", f"/users/{lena}/tokens").get_json()["tokens"]}
    assert listed[token["id"]] == "expired"
    assert api.call("GET", "/me", api.labeler).status_code == 200  # her other token still works


def test_rotation_revokes_the_old_tokens_and_a_revoked_token_is_a_clear_401(api: Api) -> None:
    lena = user_id(api, "lena")
    extra = api.call("POST", f"/users/{lena}/tokens", json={"name": "laptop"}).get_json()["token"]
    rotated = api.call("POST", f"/users/{lena}/tokens", json={"name": "new", "revoke_others": True})
    assert rotated.status_code == 201
    new = rotated.get_json()["token"]
    for old in (api.labeler, extra["secret"]):
        assert "revoked" in is_problem(api.call("GET", "/me", old), 401)["detail"]
    assert api.call("GET", "/me", new["secret"]).get_json()["name"] == "lena"
    statuses = {t["name"]: t["status"] for t in api.call("GET", f"/users/{lena}/tokens").get_json()["tokens"]}
    assert statuses == {"default": "revoked", "laptop": "revoked", "new": "active"}

    revoked = api.call("POST", f"/users/{lena}/tokens/{new['id']}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    assert revoked.get_json()["revoked_at"] is not None and "secret" not in revoked.get_json()
    assert api.call("POST", f"/users/{lena}/tokens/{new['id']}/revoke").get_json() == revoked.get_json()
    is_problem(api.call("GET", "/me", new["secret"]), 401)
    assert api.call("GET", f"/users/{lena}").get_json()["active_tokens"] == 0


def test_a_disabled_user_cannot_authenticate_until_enabled(api: Api) -> None:
    lena = user_id(api, "lena")
    disabled = api.call("POST", f"/users/{lena}/disable")
    assert disabled.status_code == 200 and disabled.get_json()["disabled_at"] is not None
    assert "disabled" in is_problem(api.call("GET", "/datasets", api.labeler), 401)["detail"]
    is_problem(api.call("POST", f"/users/{lena}/tokens", json={}), 409)  # no new token while disabled
    enabled = api.call("POST", f"/users/{lena}/enable")
    assert enabled.status_code == 200 and enabled.get_json()["disabled_at"] is None
    assert api.call("GET", "/datasets", api.labeler).status_code == 200


def test_the_last_enabled_admin_cannot_be_disabled(api: Api) -> None:
    alice = user_id(api, "alice")
    is_problem(api.call("POST", f"/users/{alice}/disable"), 409)
    assert api.call("GET", "/me").status_code == 200
    second = api.call("POST", "/users", json={"name": "root", "role": "admin"}).get_json()
    assert api.call("POST", f"/users/{alice}/disable", second["token"]["secret"]).status_code == 200
    is_problem(api.call("GET", "/me"), 401)
