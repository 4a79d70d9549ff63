"""Matomo's Reporting API over web.visits and web.actions: no archiving, any date range."""

from tally.web.reporting.api import bulk, call, routes
from tally.web.reporting.methods import METHODS

__all__ = ["METHODS", "bulk", "call", "routes"]
