"""Celery side of task runs: the app, the one task, dispatch from the API and recovery of orphaned runs.

Imports point one way: workers -> services -> storage -> matcher (the web layer never imports this package
except ``workers.dispatch``, lazily)."""
