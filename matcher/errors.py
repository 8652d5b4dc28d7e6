"""One error hierarchy for user errors; the CLI prints them in one line, the service maps them to 4xx."""

ECHO_LIMIT = 80
"""Longest echo of a user's value in an error message: a 1 MB cell must not come back in a 1 MB error."""


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters (``...`` and the full length)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return text[: limit - 3] + "..." + size


def shown_all(values: list[str], limit: int = 20) -> str:
    """At most ``limit`` values, each :func:`shown`, then how many more (a file of 10,000 columns)."""
    named = ", ".join(shown(v) for v in values[:limit])
    return named + (f" and {len(values) - limit} more" if len(values) > limit else "")


class MatcherError(Exception):
    """A problem with what the user gave us (data, labels, settings); never a bug of ours."""


class InputError(MatcherError):
    """The data table is unreadable or violates a contract (e.g. a duplicate primary key)."""


class LabelError(MatcherError):
    """A labeling file is malformed or contradicts itself."""


class SettingsError(MatcherError):
    """The settings JSON or a knob is invalid."""


class MissingDependency(SettingsError, ImportError):
    """The settings (or a module asked for) need an optional package that is not installed: a user error, which
    says how to install it (an ImportError too, for code that imports the optional part)."""
