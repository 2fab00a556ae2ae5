"""Common entry point of the stage programs.

Exit status: 0 done, 2 bad input or parameters (`PipelineError`: one plain sentence on stderr), 1 anything
else (a traceback on stderr). `--task-index`/`--task-count` default to Slurm's `SLURM_ARRAY_TASK_ID` and
`SLURM_ARRAY_TASK_COUNT` (0 and 1 outside an array).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import PipelineError

EXIT_BAD_INPUT = 2
#: a stage runner: (parameter document, task index, task count) -> one line for the stage's log
Runner = Callable[[dict[str, Any], int, int], str]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def load_document(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineError(f"cannot read the parameter document {path}: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineError(f"the parameter document {path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PipelineError(f"the parameter document {path} must be a JSON object")
    return document


def main(prog: str, runners: Mapping[str, Runner], argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("stage", choices=sorted(runners))
    parser.add_argument("--params", required=True, help="the run's parameter document (JSON)")
    parser.add_argument("--task-index", type=int, default=env_int("SLURM_ARRAY_TASK_ID", 0))
    parser.add_argument("--task-count", type=int, default=env_int("SLURM_ARRAY_TASK_COUNT", 1))
    args = parser.parse_args(argv)
    os.umask(0o007)  # outputs readable by the data group only
    started = time.monotonic()
    try:
        if args.task_count < 1 or not 0 <= args.task_index < args.task_count:
            raise PipelineError(f"task index {args.task_index} is outside 0..{args.task_count - 1}")
        line = runners[args.stage](load_document(args.params), args.task_index, args.task_count)
    except PipelineError as exc:
        print(f"{prog} {args.stage}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    print(
        f"{args.stage} task {args.task_index}/{args.task_count}: {line} ({time.monotonic() - started:.1f} s)",
        flush=True,
    )
    return 0
