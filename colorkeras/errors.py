"""The one base class for errors a user can cause (a bad path, bad data, a wrong option).

The CLI prints a ``ColorkerasError`` as one line and exits with code 2; any other
exception is a bug (or an environment failure) and keeps its traceback.
"""

from __future__ import annotations


class ColorkerasError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class InvalidArgument(ColorkerasError, ValueError):
    """A value the user chose that cannot work (an unknown name, a size out of range)."""
