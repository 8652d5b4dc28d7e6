"""Persistence: SQLAlchemy models, sessions and the artifact store. Imports the matcher core, never the web or
the queue (core <- storage <- services <- web, workers)."""
