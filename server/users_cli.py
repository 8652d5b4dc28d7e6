"""``matcher users list|create|disable|enable|rotate|revoke``: users and tokens from the server's shell.

A token's secret goes to stdout alone (once, so ``TOKEN=$(matcher users rotate lena)`` works); what happened goes
to stderr. Users are named by name (or id).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services import tokens, users
from services.errors import ServiceError
from services.tokens import aware
from storage.db import Database

DATA_DIR_HELP = "data directory (default $MATCHER_DATA_DIR or ~/.matcher)"


def register(verbs: Any) -> None:
    parser = verbs.add_parser("users", help="manage API users and their tokens")
    user_verbs = parser.add_subparsers(dest="users_verb", required=True)

    def verb(name: str, help_: str, run: Callable[[argparse.Namespace, Database], int],
             with_user: bool = True) -> argparse.ArgumentParser:
        sub = user_verbs.add_parser(name, help=help_)
        if with_user:
            sub.add_argument("name", help="the user's name (or id)")
        sub.add_argument("--data-dir", help=DATA_DIR_HELP)
        sub.set_defaults(run=_runner(run), quiet=False)
        return sub

    verb("list", "users, their roles and tokens (never the secrets)", run_list, with_user=False)
    create = verb("create", "create a user and print its token (shown once)", run_create)
    create.add_argument("--role", required=True, choices=users.ROLES)
    _expiry(create)
    verb("disable", "refuse every token of a user (kept for the record)", run_disable)
    verb("enable", "let a disabled user's live tokens work again", run_enable)
    rotate = verb("rotate", "print a new token (shown once) and revoke the user's others", run_rotate)
    rotate.add_argument("--keep-old", action="store_true", help="keep the user's other tokens working")
    rotate.add_argument("--token-name", default=tokens.DEFAULT_NAME, help="a label for the new token")
    _expiry(rotate)
    revoke = verb("revoke", "revoke one token of a user (its id, from `matcher users list`) or all of them",
                  run_revoke)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token_id", nargs="?", help="the token's id")
    which.add_argument("--all", action="store_true", help="every token of the user")


def iso(moment: datetime | None) -> str | None:
    found = aware(moment)
    return found.isoformat(timespec="seconds").replace("+00:00", "Z") if found else None


def _expiry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expires-in-days", type=int, help="the token expires after this many days (default never)")


def _runner(run: Callable[[argparse.Namespace, Database], int]) -> Callable[[argparse.Namespace], int]:
    def wrapped(args: argparse.Namespace) -> int:
        from server.web_cli import prepare

        try:
            _, db = prepare(args.data_dir)
            return run(args, db)
        except ServiceError as exc:
            print(f"matcher: error: {exc.detail}", file=sys.stderr)
            return 2
    return wrapped


def _expires(args: argparse.Namespace) -> Any:
    days = args.expires_in_days
    try:
        return tokens.parse_expiry({"expires_in_days": days})
    except ServiceError as exc:
        exc.detail = exc.detail.replace("expires_in_days", "--expires-in-days")
        raise


def run_list(args: argparse.Namespace, db: Database) -> int:
    for info in users.list_users(db):
        user = info.user
        state = f"disabled since {iso(user.disabled_at)}" if user.disabled_at else "enabled"
        print(f"{user.name}\t{user.role}\t{state}\t{info.active_tokens} active token(s)\tid {user.id}")
        for token in tokens.list_tokens(db, user.id):
            print(f"  token {token.id}\t{token.name}\t{tokens.status(token)}\tcreated {iso(token.created_at)}\t"
                  f"expires {iso(token.expires_at) or 'never'}\tlast used {iso(token.last_used_at) or 'never'}")
    return 0


def run_create(args: argparse.Namespace, db: Database) -> int:
    user, secret = users.create_user(db, args.name, args.role, expires_at=_expires(args))
    print(f"matcher: created {user.role} {user.name!r}; its API token (shown once):", file=sys.stderr)
    print(secret)
    return 0


def run_disable(args: argparse.Namespace, db: Database) -> int:
    user = users.set_disabled(db, users.find_user(db, args.name).id, True)
    print(f"matcher: disabled {user.name!r}: its tokens are refused until `matcher users enable`", file=sys.stderr)
    return 0


def run_enable(args: argparse.Namespace, db: Database) -> int:
    user = users.set_disabled(db, users.find_user(db, args.name).id, False)
    print(f"matcher: enabled {user.name!r}", file=sys.stderr)
    return 0


def run_rotate(args: argparse.Namespace, db: Database) -> int:
    user = users.find_user(db, args.name)
    name = tokens.token_name(args.token_name)
    live = [t for t in tokens.list_tokens(db, user.id) if t.revoked_at is None]
    issued = tokens.issue(db, user.id, name, _expires(args), revoke_others=not args.keep_old)
    kept = "kept its other tokens" if args.keep_old else f"revoked {len(live)} older token(s)"
    print(f"matcher: new token for {user.name!r} ({kept}); shown once:", file=sys.stderr)
    print(issued.secret)
    return 0


def run_revoke(args: argparse.Namespace, db: Database) -> int:
    user = users.find_user(db, args.name)
    ids = [args.token_id] if args.token_id else [t.id for t in tokens.list_tokens(db, user.id)
                                                  if t.revoked_at is None]
    for token_id in ids:
        tokens.revoke(db, user.id, token_id)
    print(f"matcher: revoked {len(ids)} token(s) of {user.name!r}", file=sys.stderr)
    return 0
