"""Errors of the precomputed conversion. `ConversionError` means the input or the parameters are wrong
(missing files, mismatched plane shapes, a bad parameter document): the stage command prints it as one
plain sentence and exits with status 2, so the run's log says what to fix. Anything else is a bug and
exits with status 1 and a traceback.
"""

from __future__ import annotations


class ConversionError(Exception):
    """Bad input or parameters; `str(error)` is a sentence a facility member can act on."""
