"""Reading Slurm's output and pooling array tasks, on text captured from Slurm 22.05."""

from __future__ import annotations

from datetime import datetime

import pytest

from lib.cluster import SlurmState, UnparsableOutput, parse_sacct, parse_squeue, parse_state, pool_tasks
from lib.cluster.accounting import count_array_range, wait_status_to_exit_code

# sacct --parsable2 --noheader --allocations --allusers --format=JobID,State,ExitCode,Start,End --jobs=1,2,3,4,8,9
CAPTURED_SACCT = """\
1|COMPLETED|0:0|2026-11-25T07:32:05|2026-11-25T07:32:07
3|FAILED|3:0|2026-11-25T07:32:05|2026-11-25T07:32:05
4|CANCELLED|0:0|None|2026-11-25T07:32:08
2_0|COMPLETED|0:0|2026-11-25T07:32:08|2026-11-25T07:32:10
2_1|COMPLETED|0:0|2026-11-25T07:32:08|2026-11-25T07:32:10
2_2|RUNNING|0:0|2026-11-25T07:32:11|Unknown
2_[3-5%2]|PENDING|0:0|None|Unknown
8|TIMEOUT|0:0|2026-11-25T07:32:36|2026-11-25T07:33:57
13|CANCELLED by 0|0:0|None|2026-11-25T07:36:57
"""


# squeue --noheader --array --states=all --jobs=... --Format=<SQUEUE_FORMAT>: fields padded to their widths
def squeue_line(*fields: str) -> str:
    return "".join(f"{value:<{width}}|" for value, width in zip(fields, (64, 24, 12, 24, 24))) + "\n"


CAPTURED_SQUEUE = (
    squeue_line("4", "CANCELLED", "0", "2026-11-25T07:32:08", "2026-11-25T07:32:08")
    + squeue_line("3", "FAILED", "768", "2026-11-25T07:32:05", "2026-11-25T07:32:05")
    + squeue_line("2_1", "RUNNING", "0", "2026-11-25T07:32:08", "2026-11-25T08:32:08")
    + squeue_line("2_[2-3%2]", "PENDING", "0", "N/A", "N/A")
)


def rows(text: str):
    return parse_sacct(text)


def sacct_lines(*states: str, job: str = "40") -> str:
    return "".join(f"{job}_{i}|{state}|0:0|2026-01-01T10:00:00|Unknown\n" for i, state in enumerate(states))


def test_captured_sacct_output_is_pooled_per_job():
    statuses = pool_tasks(parse_sacct(CAPTURED_SACCT))

    assert set(statuses) == {"1", "2", "3", "4", "8", "13"}
    assert statuses["1"].state is SlurmState.COMPLETED and statuses["1"].array_done is None
    assert statuses["1"].started_at == datetime(2026, 11, 25, 7, 32, 5)
    assert statuses["3"].state is SlurmState.FAILED and statuses["3"].exit_code == "3:0"
    assert statuses["4"].state is SlurmState.CANCELLED and statuses["4"].started_at is None
    assert statuses["8"].state is SlurmState.TIMEOUT
    assert statuses["2"].state is SlurmState.RUNNING
    assert (statuses["2"].array_size, statuses["2"].array_done) == (6, 2)
    assert statuses["2"].ended_at is None


def test_cancelled_by_a_uid_is_cancelled_and_the_raw_text_is_kept():
    status = pool_tasks(parse_sacct(CAPTURED_SACCT))["13"]
    assert status.state is SlurmState.CANCELLED
    assert status.raw_state == "CANCELLED by 0"
    assert parse_state("CANCELLED by 1234") is SlurmState.CANCELLED


def test_a_mix_with_timeout_is_failed_never_running():
    status = pool_tasks(rows(sacct_lines("COMPLETED", "RUNNING", "TIMEOUT", "PENDING")))["40"]
    assert status.state is SlurmState.TIMEOUT
    assert status.raw_state == "TIMEOUT in 1 of 4 tasks"
    assert status.array_done == 1


def test_a_mix_with_out_of_memory_is_failed_never_running():
    status = pool_tasks(rows(sacct_lines("RUNNING", "OUT_OF_MEMORY", "OUT_OF_MEMORY", "COMPLETED")))["40"]
    assert status.state is SlurmState.OUT_OF_MEMORY
    assert status.raw_state == "OUT_OF_MEMORY in 2 of 4 tasks"


def test_different_failures_pool_to_failed_with_each_count():
    status = pool_tasks(rows(sacct_lines("TIMEOUT", "OUT_OF_MEMORY", "COMPLETED", "TIMEOUT")))["40"]
    assert status.state is SlurmState.FAILED
    assert status.raw_state == "OUT_OF_MEMORY in 1, TIMEOUT in 2 of 4 tasks"


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (("COMPLETED", "COMPLETED"), SlurmState.COMPLETED),
        (("COMPLETED", "CANCELLED by 0", "RUNNING"), SlurmState.CANCELLED),
        (("COMPLETED", "RUNNING", "PENDING"), SlurmState.RUNNING),
        (("SUSPENDED", "PENDING"), SlurmState.SUSPENDED),
        (("RUNNING", "SUSPENDED"), SlurmState.RUNNING),
        (("COMPLETED", "PENDING"), SlurmState.PENDING),
        (("COMPLETING", "COMPLETED"), SlurmState.RUNNING),
        (("NODE_FAIL", "COMPLETED"), SlurmState.NODE_FAIL),
    ],
)
def test_pooling_rules(states, expected):
    assert pool_tasks(rows(sacct_lines(*states)))["40"].state is expected


def test_an_array_accounting_shows_as_a_plain_row_is_not_finished_when_its_size_is_known():
    # Captured: for ~2 s after a 3-task array ended, sacct printed only "4|COMPLETED|...".
    lagging = "4|COMPLETED|0:0|2026-11-25T07:41:08|2026-11-25T07:41:08\n"
    assert pool_tasks(rows(lagging))["4"].state is SlurmState.COMPLETED  # without the size: looks done
    status = pool_tasks(rows(lagging), {"4": 3})["4"]
    assert status.state is SlurmState.PENDING and status.array_size == 3 and status.array_done == 0

    partial = sacct_lines("COMPLETED", "COMPLETED", job="4")
    status = pool_tasks(rows(partial), {"4": 3})["4"]
    assert status.state is SlurmState.PENDING and status.array_done == 2

    complete = sacct_lines("COMPLETED", "COMPLETED", "COMPLETED", job="4")
    assert pool_tasks(rows(complete), {"4": 3})["4"].state is SlurmState.COMPLETED


def test_captured_squeue_output_is_read_like_sacct():
    statuses = pool_tasks(parse_squeue(CAPTURED_SQUEUE))
    assert statuses["3"].state is SlurmState.FAILED and statuses["3"].exit_code == "3:0"
    assert statuses["4"].state is SlurmState.CANCELLED
    assert statuses["2"].state is SlurmState.RUNNING and statuses["2"].array_size == 3
    assert statuses["2"].ended_at is None  # squeue's end time of a running job is only a forecast


def test_exit_codes_and_array_ranges():
    assert wait_status_to_exit_code(768) == "3:0"
    assert wait_status_to_exit_code(9) == "0:9"
    assert count_array_range("[0-3%2]") == 4
    assert count_array_range("[5,7-9]") == 4
    assert count_array_range("[1-7:2]") == 4


@pytest.mark.parametrize(
    "text",
    [
        "1|COMPLETED|0:0|2026-11-25T07:32:05",  # a field missing
        "abc|COMPLETED|0:0|None|None",  # not a job id
        "1|EXPLODED|0:0|None|None",  # a state we do not know
        "1|COMPLETED|zero|None|None",  # not code:signal
        "1|COMPLETED|0:0|yesterday|None",  # not a time
    ],
)
def test_unparsable_sacct_output_raises_a_clear_error(text):
    with pytest.raises(UnparsableOutput, match="could not parse"):
        parse_sacct(text)


def test_heterogeneous_and_federated_ids_group_under_the_numeric_id():
    statuses = pool_tasks(parse_sacct("77+0|COMPLETED|0:0|None|None\n77+1|COMPLETED|0:0|None|None\n"))
    assert list(statuses) == ["77"]
