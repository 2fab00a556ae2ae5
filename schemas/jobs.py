"""Schema ``<prefix>jobs``: pipeline runs, their Slurm jobs and the jobs' state history
(job states use Slurm's names).

Declared on an unactivated schema; :func:`schemas.activate_all` activates it after ``lightsheet``.
"""

from __future__ import annotations

import datajoint as dj

from . import lightsheet  # noqa: F401 - referenced by name in PipelineRun.definition
from .enums import CHANNEL_NAME, IMAGE_RESOLUTION, LIGHTSHEET, RUN_KIND, RUN_STATUS, SLURM_STATE, sql_enum

schema = dj.Schema()  # activated by schemas.activate_all(prefix)

__all__ = ["schema", "PipelineRun", "SlurmJob", "SlurmJobState"]


@schema
class PipelineRun(dj.Manual):
    """One submission of a pipeline (or a precomputed conversion) for one target; re-runs are new rows."""

    definition = f"""
    # pipeline run
    run_id : int unsigned auto_increment                  # surrogate key
    ---
    kind : {sql_enum(RUN_KIND)}                           # which pipeline or conversion
    -> lightsheet.Request                                 # the request (username, request_name)
    sample_name : varchar(64)                             # the sample
    imaging_request_number : tinyint unsigned             # the imaging request
    processing_request_number = 0 : tinyint unsigned      # 0 for imaging-level runs
    image_resolution : {sql_enum(IMAGE_RESOLUTION)}       # objective magnification
    ventral_up = 0 : bool                                 # 1: ventral-up acquisition
    channel_name = null : {sql_enum(CHANNEL_NAME)}        # nm; null for whole-resolution pipelines
    lightsheet = 'none' : {sql_enum(LIGHTSHEET)}          # light sheet of the target, none when not per sheet
    attempt = 1 : tinyint unsigned                        # increments on each re-run of the same target
    start_stage : varchar(32)                             # first stage submitted in this run
    status = 'queued' : {sql_enum(RUN_STATUS)}            # derived from the jobs (processing.md 8.3)
    created_by : varchar(32)                              # username or system
    created_at : datetime                                 # UTC
    finished_at = null : datetime                         # UTC
    params : json                                         # the full parameter document written for the pipeline
    run_dir : varchar(1024)                               # relative to DATA_ROOT; params file and logs
    output_dir : varchar(1024)                            # relative to DATA_ROOT
    code_dir : varchar(512)                               # pipeline checkout on the cluster
    code_commit = null : varchar(40)                      # full git commit hash of code_dir at submission
    container_image = null : varchar(255)                 # image reference with digest when run in a container
    superseded_by_run_id = null : int unsigned            # run that replaced this one (soft reference)
    failure_reason = '' : varchar(512)                    # plain-language reason
    cancelled_by = null : varchar(32)                     # username of who cancelled it
    """

    class SlurmJob(dj.Part):
        """One Slurm job per stage of a run."""

        definition = f"""
        # Slurm job of a run stage
        -> master                                         # the run
        step_index : tinyint unsigned                     # 0.. in dependency order
        ---
        step_name : varchar(32)                           # e.g. blend, downsize, register, info, upload
        slurm_job_id = null : varchar(32)                 # numeric id without array suffix; unique when set
        depends_on_steps = '[]' : json                    # step indexes this job waits for (afterok)
        is_array = 0 : bool                               # 1: an array job
        array_size = null : int unsigned                  # number of array tasks
        array_done = null : int unsigned                  # completed array tasks at last poll
        script_path : varchar(512)                        # path of the stage script on the cluster
        script_sha256 : char(64)                          # hex SHA-256 of the script file at submission
        sbatch_args : varchar(1024)                       # exact options used
        partition : varchar(32)                           # Slurm partition
        cpus : smallint unsigned                          # CPUs per task
        mem_gb : smallint unsigned                        # GB of memory
        time_limit : varchar(16)                          # HH:MM:SS or D-HH:MM:SS
        state = 'NOT_SUBMITTED' : {sql_enum(SLURM_STATE)}  # pooled state, upper case as Slurm prints it
        raw_state = '' : varchar(64)                      # as printed by Slurm, e.g. CANCELLED by 1234
        exit_code = '' : varchar(16)                      # code:signal
        submitted_at = null : datetime                    # UTC
        started_at = null : datetime                      # UTC
        ended_at = null : datetime                        # UTC
        state_changed_at = null : datetime                # UTC
        last_polled_at = null : datetime                  # UTC
        stdout_path : varchar(1024)                       # relative to DATA_ROOT
        stderr_path : varchar(1024)                       # relative to DATA_ROOT
        missing_polls = 0 : smallint unsigned             # consecutive polls where Slurm did not report the job
        unique index (slurm_job_id)                       # a Slurm id belongs to one job (nulls allowed)
        """


SlurmJob = PipelineRun.SlurmJob


@schema
class SlurmJobState(dj.Manual):
    """Append-only history of a Slurm job's state: a row only when the state or array_done changes."""

    definition = f"""
    # observed Slurm job state
    -> PipelineRun.SlurmJob                               # the job
    observed_at : datetime(6)                             # UTC, microseconds
    ---
    state : {sql_enum(SLURM_STATE)}                       # pooled state
    raw_state : varchar(64)                               # as printed by Slurm
    exit_code : varchar(16)                               # code:signal
    array_done = null : int32                             # completed array tasks
    """
