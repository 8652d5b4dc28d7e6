"""The app's one extension: config, database and queue callables, kept per app in ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from services.config import Config
from services.task_runs import Dispatch, Revoke
from storage.db import Database


@dataclass(frozen=True)
class ServiceState:
    config: Config
    db: Database
    dispatch: Dispatch
    revoke: Revoke


class MatcherServices:
    """Flask-extension style: ``init_app`` stores the state on the app, so several apps can coexist (tests)."""

    name = "matcher"

    def init_app(self, app: Flask, config: Config, dispatch: Dispatch, revoke: Revoke) -> None:
        app.extensions[self.name] = ServiceState(config, Database(config.database_url), dispatch, revoke)

    @property
    def state(self) -> ServiceState:
        return current_app.extensions[self.name]

    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def db(self) -> Database:
        return self.state.db


matcher_services = MatcherServices()
