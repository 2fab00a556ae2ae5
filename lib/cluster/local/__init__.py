"""The local executor (CLUSTER_BACKEND=local): Slurm's job semantics with local processes."""

from .executor import LocalExecutor

__all__ = ["LocalExecutor"]
