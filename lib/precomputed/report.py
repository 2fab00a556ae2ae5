"""What one array task of a stage did, printed as one line in the stage's log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageReport:
    """What one array task did; printed as one line in the stage log."""

    stage: str
    task_index: int
    task_count: int
    written: int = 0  # slabs (or files) written by this task now
    skipped: int = 0  # slabs found finished by an earlier attempt
    seconds: float = 0.0
    note: str = ""

    def line(self) -> str:
        text = (
            f"{self.stage}: task {self.task_index + 1} of {self.task_count}: "
            f"{self.written} written, {self.skipped} already done, {self.seconds:.1f} s"
        )
        return f"{text}; {self.note}" if self.note else text
