"""``matcher users list|create|disable|enable|rotate|revoke`` on a real data directory (issue 15, defect 5): the
secret is printed once on stdout, rotation revokes the old tokens unless --keep-old, and what the CLI did is what
the API then accepts or refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.cli import main
from services import tokens
from services.errors import Unauthorized
from services.users import find_user
from storage.db import Database


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MATCHER_DATABASE_URL", "MATCHER_BROKER_URL", "MATCHER_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def users(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["users", *args, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(db: Database, secret: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        tokens.authenticate(db, secret)
    return caught.value.detail


def test_the_users_verbs_end_to_end(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, first, _ = users(capsys, data_dir, "create", "lena", "--role", "labeler")
    assert code == 0
    db = Database(f"sqlite:///{data_dir.resolve() / 'matcher.sqlite'}")
    assert tokens.authenticate(db, first.strip()).name == "lena"
    assert users(capsys, data_dir, "create", "root", "--role", "admin", "--expires-in-days", "7")[0] == 0

    code, kept, err = users(capsys, data_dir, "rotate", "lena", "--keep-old", "--token-name", "laptop")
    assert code == 0 and "kept" in err
    assert tokens.authenticate(db, first.strip()).name == "lena" == tokens.authenticate(db, kept.strip()).name

    code, rotated, err = users(capsys, data_dir, "rotate", "lena", "--expires-in-days", "30")
    assert code == 0 and "revoked 2 older token(s)" in err and len(rotated.strip().splitlines()) == 1
    assert "revoked" in refused(db, first.strip()) and "revoked" in refused(db, kept.strip())
    assert tokens.authenticate(db, rotated.strip()).name == "lena"

    code, listing, _ = users(capsys, data_dir, "list")
    assert code == 0
    for secret in (first, kept, rotated):
        assert secret.strip() not in listing  # never the secrets
    lena = [line for line in listing.splitlines() if line.startswith("lena\t")]
    assert lena and "enabled" in lena[0] and "1 active token(s)" in lena[0]
    assert listing.count("\trevoked\t") == 2 and "expires never" in listing

    assert users(capsys, data_dir, "disable", "lena")[0] == 0
    assert "disabled" in refused(db, rotated.strip())
    assert users(capsys, data_dir, "enable", "lena")[0] == 0
    assert tokens.authenticate(db, rotated.strip()).name == "lena"

    (roots,) = tokens.list_tokens(db, find_user(db, "root").id)
    assert f"token {roots.id}" in listing
    code, _, err = users(capsys, data_dir, "revoke", "lena", roots.id)
    assert code == 2 and "not found" in err  # that token is root's, not lena's
    (lenas,) = [t for t in tokens.list_tokens(db, find_user(db, "lena").id) if t.revoked_at is None]
    assert users(capsys, data_dir, "revoke", "lena", lenas.id)[0] == 0
    assert "revoked" in refused(db, rotated.strip())
    assert users(capsys, data_dir, "rotate", "lena")[0] == 0
    code, _, err = users(capsys, data_dir, "revoke", "lena", "--all")
    assert code == 0 and "revoked 1 token(s)" in err
    db.engine.dispose()


@pytest.mark.parametrize(("args", "fragment"), [
    (("create", "lena", "--role", "labeler", "--expires-in-days", "0"), "--expires-in-days must be an integer"),
    (("rotate", "nobody"), "no user named 'nobody'"),
    (("disable", "admin-x"), "no user named 'admin-x'"),
])
def test_mistakes_are_one_line_errors(data_dir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                      fragment: str) -> None:
    code, out, err = users(capsys, data_dir, *args)
    assert code == 2 and out == "" and err.startswith("matcher: error: ") and fragment in err, err


def test_the_last_admin_stays_enabled(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert users(capsys, data_dir, "create", "root", "--role", "admin")[0] == 0
    code, _, err = users(capsys, data_dir, "disable", "root")
    assert code == 2 and "last enabled admin" in err
