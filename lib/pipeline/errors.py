"""The one error a stage raises for bad input or parameters (exit status 2, one sentence on stderr)."""


class PipelineError(Exception):
    """Bad input or parameters: the message is shown to staff as the stage's failure reason."""
