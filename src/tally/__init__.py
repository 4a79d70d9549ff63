"""tally: a data platform for subscription businesses."""

__version__ = "0.1.0"
