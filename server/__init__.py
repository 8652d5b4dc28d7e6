"""Composition root: the ``matcher`` console script (core verbs + serve/worker/db/users) and ``matcher serve``."""
