"""A tiny stage program for engine tests: writes one marker per task into the run's output folder and
fails when the parameter document asks it to (`fail_stage`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage")
    parser.add_argument("--params", required=True)
    parser.add_argument("--task-index", type=int, default=int(os.environ.get("SLURM_ARRAY_TASK_ID", "0") or 0))
    args = parser.parse_args()
    params = json.loads(Path(args.params).read_text())
    out = Path(params["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    print(f"stage {args.stage} task {args.task_index} of run {params['run_id']}")
    if params.get("allocate_mb"):
        block = b"x" * (int(params["allocate_mb"]) * 1024 * 1024)  # touches every page
        print(f"allocated {len(block)} bytes", flush=True)
    time.sleep(float(params.get("sleep", 0)))
    if params.get("fail_stage") == args.stage:
        print(f"{args.stage} cannot continue: simulated failure", file=sys.stderr)
        return 3
    (out / f"{args.stage}-{args.task_index}.done").write_text("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
