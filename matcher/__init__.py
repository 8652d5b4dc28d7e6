"""Entity matching core: profiling, blocking, scoring and constrained clustering.

Pure library: it never imports flask, sqlalchemy or celery.
"""

__version__ = "0.1.0"
