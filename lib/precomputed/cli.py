"""Stage commands: each stage takes the parameter document and an array index.

    python -m lib.precomputed <stage> --params PARAMS.json --task-index K --task-count N

`--task-index` and `--task-count` default to Slurm's `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`
(0 and 1 outside an array). `info`, `annotations` and `segment_properties` are single-task stages:
tasks other than 0 do nothing. Exit status: 0 done, 2 bad input or parameters, or the storage full (one
plain sentence on stderr), 1 anything else (a traceback on stderr).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Callable, Sequence

from .annotations import build_annotations
from .downsample import downsample
from .errors import ConversionError
from .info import write_info
from .params import ConversionParams, load_params
from .report import StageReport
from .segment_properties import write_segment_properties
from .upload import upload

EXIT_BAD_INPUT = 2
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
STAGES = ("info", "upload", "downsample", "annotations", "segment_properties")


def _single(
    stage: str, work: Callable[[ConversionParams], object]
) -> Callable[[ConversionParams, int, int], StageReport]:
    def run(params: ConversionParams, task_index: int, task_count: int) -> StageReport:
        if task_index != 0:
            return StageReport(stage, task_index, task_count, note="single-task stage; nothing to do")
        started = time.monotonic()
        result = work(params)
        if isinstance(result, StageReport):
            return result
        return StageReport(stage, 0, task_count, 1, 0, time.monotonic() - started, "info written")

    return run


RUNNERS: dict[str, Callable[[ConversionParams, int, int], StageReport]] = {
    "info": _single("info", write_info),
    "upload": upload,
    "downsample": downsample,
    "annotations": _single("annotations", build_annotations),
    "segment_properties": _single("segment_properties", write_segment_properties),
}


def run_stage(stage: str, params: ConversionParams, task_index: int = 0, task_count: int = 1) -> StageReport:
    """Run one array task of one stage in this process."""
    if stage not in RUNNERS:
        raise ConversionError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if task_count < 1 or not 0 <= task_index < task_count:
        raise ConversionError(f"task index {task_index} is outside 0..{task_count - 1}")
    return RUNNERS[stage](params, task_index, task_count)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.precomputed", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--params", required=True, help="the run's parameter document (JSON)")
    parser.add_argument("--task-index", type=int, default=_env_int("SLURM_ARRAY_TASK_ID", 0))
    parser.add_argument("--task-count", type=int, default=_env_int("SLURM_ARRAY_TASK_COUNT", 1))
    args = parser.parse_args(argv)
    os.umask(0o007)  # folders and files readable by the data group only
    try:
        params = load_params(args.params)
        report = run_stage(args.stage, params, args.task_index, args.task_count)
    except ConversionError as exc:
        print(f"precomputed {args.stage}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        # the storage full is not a bug: one sentence naming the layer (a re-run resumes after its last slab)
        print(f"precomputed {args.stage}: error: no space left on the data storage while writing layer "
              f"{params.name} ({params.layer_path})", file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    print(report.line(), flush=True)
    return 0
