"""Amends: a Slack assistant for service recovery."""

__version__ = "0.1.0"
