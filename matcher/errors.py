"""One error hierarchy for user errors; the CLI prints them in one line, the service maps them to 4xx."""


class MatcherError(Exception):
    """A problem with what the user gave us (data, labels, settings); never a bug of ours."""


class InputError(MatcherError):
    """The data table is unreadable or violates a contract (e.g. a duplicate primary key)."""


class LabelError(MatcherError):
    """A labeling file is malformed or contradicts itself."""


class SettingsError(MatcherError):
    """The settings JSON or a knob is invalid."""
