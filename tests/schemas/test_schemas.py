"""The DataJoint data model on the real MariaDB: activation, seeding, the request chain, constraints."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import datajoint as dj
import pymysql
import pytest

import schemas
from schemas import catalogue, enums
from schemas.seed import seed_lookups
from tests.support.databases import REQUEST_PARTS, databases_with_prefix

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 1, 15, 9, 30, 0)
TODAY = dt.date(2026, 1, 15)
REQUEST = {"username": "alice", "request_name": "cfos_study"}
SAMPLE = {**REQUEST, "sample_name": "s1"}


# --- helpers ----------------------------------------------------------------------------------------


def insert_users(ls, *usernames):
    ls.User.insert(
        [
            {"username": u, "email": f"{u}@example.org", "full_name": u.title(), "is_active": 1, "created_at": NOW}
            for u in usernames
        ],
        skip_duplicates=True,
    )


def insert_request_chain(ls, *, samples=("s1",)):
    """Insert a request with every part table filled once per sample (the caller opens the transaction)."""
    insert_users(ls, "alice", "clara", "ivan", "paul")
    ls.Request.insert1(
        {
            **REQUEST,
            "requested_by": "alice",
            "submitted_at": NOW,
            "labname": "Wang lab",
            "correspondence_email": "alice@example.org",
            "description": "c-Fos after stimulation",
            "species": "mouse",
            "number_of_samples": len(samples),
            "raw_data_retention_preference": "not_sure",
            "testing": 0,
            "is_archival": 0,
            "self_clearing": 0,
            "self_imaging": 0,
            "form_version": "1",
        }
    )
    ls.Request.Access.insert1(
        {
            **REQUEST,
            "grantee": "paul",
            "access_level": "collaborator",
            "cc_on_emails": 1,
            "granted_by": "alice",
            "granted_at": NOW,
        }
    )
    ls.Request.Sample.insert([{**REQUEST, "sample_name": s, "expected_handoff_date": TODAY} for s in samples])
    ls.Request.ClearingBatch.insert1(
        {
            **REQUEST,
            "clearing_batch_number": 1,
            "protocol": "idisco_plus_immuno",
            "antibody1": "anti-cFos 1:1000",
            "antibody2": "",
            "clearing_progress": "pending",
            "number_in_batch": len(samples),
            "clearer": None,
        }
    )
    ls.Request.ClearingBatchSample.insert([{**REQUEST, "sample_name": s, "clearing_batch_number": 1} for s in samples])
    ls.Request.ClearingStepEntry.insert1(
        {
            **REQUEST,
            "clearing_batch_number": 1,
            "step_key": "pbs_wash_1",
            "step_time": NOW,
            "updated_by": "clara",
            "updated_at": NOW,
        }
    )
    ls.Request.ClearingSectionDate.insert1(
        {
            **REQUEST,
            "clearing_batch_number": 1,
            "section_key": "dehydration",
            "section_date": TODAY,
            "updated_by": "clara",
            "updated_at": NOW,
        }
    )
    ls.Request.ImagingRequest.insert(
        [
            {
                **REQUEST,
                "sample_name": s,
                "imaging_request_number": 1,
                "requested_by": "alice",
                "submitted_at": NOW,
                "imager": None,
                "self_imaging": 0,
                "imaging_progress": "pending",
                "validation_status": "none",
            }
            for s in samples
        ]
    )
    ls.Request.ImagingBatch.insert1(
        {
            **REQUEST,
            "clearing_batch_number": 1,
            "imaging_request_number": 1,
            "imaging_batch_number": 1,
            "imager": "ivan",
            "number_in_imaging_batch": len(samples),
            "submitted_at": NOW,
            "imaging_progress": "pending",
            "imaging_signature": {"1.3x": ["488", "647"]},
        }
    )
    ls.Request.ImagingBatchSample.insert(
        [
            {
                **REQUEST,
                "clearing_batch_number": 1,
                "imaging_request_number": 1,
                "imaging_batch_number": 1,
                "sample_name": s,
            }
            for s in samples
        ]
    )
    for s in samples:
        ir = {**REQUEST, "sample_name": s, "imaging_request_number": 1}
        ls.Request.ImagingResolutionRequest.insert1(
            {**ir, "image_resolution": "1.3x", "microscope": enums.MICROSCOPE_OF_RESOLUTION["1.3x"]}
        )
        ls.Request.ImagingChannel.insert1(
            {**ir, "image_resolution": "1.3x", "channel_name": "488", "ventral_up": 0, "registration": 1}
        )
        ls.Request.ImagingChannel.insert1(
            {
                **ir,
                "image_resolution": "1.3x",
                "channel_name": "647",
                "ventral_up": 0,
                "cell_detection": 1,
                "zoom_body_magnification": None,
                "tiling_overlap": 0.1,
                "z_step": 5.0,
            }
        )
        ls.Request.ProcessingRequest.insert1(
            {**ir, "processing_request_number": 1, "requested_by": "alice", "submitted_at": NOW, "processor": None}
        )
        prr = {**ir, "processing_request_number": 1, "image_resolution": "1.3x", "ventral_up": 0}
        ls.Request.ProcessingResolutionRequest.insert1(
            {**prr, "atlas_name": "allen_2017", "final_orientation": "sagittal"}
        )
        ls.Request.ProcessingChannel.insert(
            [
                {**prr, "channel_name": "488", "channel_role": "regch", "channel_index": 0},
                {**prr, "channel_name": "647", "channel_role": "cellch", "channel_index": 1},
            ]
        )
        ls.Request.DataLayer.insert1(
            {
                **ir,
                "processing_request_number": 0,
                "image_resolution": "1.3x",
                "ventral_up": 0,
                "channel_name": "488",
                "product": "raw",
                "lightsheet": "left",
                "layer_name": "raw_ch488_left",
                "layer_type": "image",
                "layer_path": f"alice/cfos_study/{s}/imaging_request_1/viz/raw",
                "source_path": f"alice/cfos_study/{s}/imaging_request_1/rawdata",
                "created_at": NOW,
            }
        )


def insert_pipeline_run(jobs, *, sample="s1"):
    """Insert a run with one Slurm job and one state row; return the run id."""
    jobs.PipelineRun.insert1(
        {
            "kind": "lavision_pipeline",
            **REQUEST,
            "sample_name": sample,
            "imaging_request_number": 1,
            "processing_request_number": 1,
            "image_resolution": "1.3x",
            "ventral_up": 0,
            "channel_name": None,
            "lightsheet": "none",
            "attempt": 1,
            "start_stage": "stitch",
            "status": "queued",
            "created_by": "paul",
            "created_at": NOW,
            "params": {"resolution": "1.3x", "channels": ["488", "647"]},
            "run_dir": "alice/cfos_study/s1/imaging_request_1/runs/1",
            "output_dir": "alice/cfos_study/s1/out",
            "code_dir": "/opt/pipeline",
        }
    )
    run_id = max(jobs.PipelineRun.keys(), key=lambda k: k["run_id"])["run_id"]
    jobs.PipelineRun.SlurmJob.insert1(
        {
            "run_id": run_id,
            "step_index": 0,
            "step_name": "stitch",
            "slurm_job_id": f"{1000 + run_id}",
            "is_array": 1,
            "array_size": 40,
            "script_path": "/opt/pipeline/stitch.sh",
            "script_sha256": "a" * 64,
            "sbatch_args": "--parsable --array=0-39",
            "partition": "all",
            "cpus": 8,
            "mem_gb": 32,
            "time_limit": "04:00:00",
            "state": "SUBMITTED",
            "submitted_at": NOW,
            "stdout_path": "runs/1/stage_0.out",
            "stderr_path": "runs/1/stage_0.err",
        }
    )
    jobs.SlurmJobState.insert1(
        {
            "run_id": run_id,
            "step_index": 0,
            "observed_at": dt.datetime(2026, 1, 15, 9, 31, 2, 123456),
            "state": "PENDING",
            "raw_state": "PENDING",
            "exit_code": "0:0",
            "array_done": 0,
        }
    )
    return run_id


def part_tables(ls):
    return [getattr(ls.Request, name) for name in REQUEST_PARTS]


def all_tables(s):
    ls, jobs, facility = s.lightsheet, s.jobs, s.facility
    masters = [
        ls.ClearingProtocol,
        ls.ClearingSection,
        ls.ClearingStep,
        ls.Atlas,
        ls.User,
        ls.Request,
        ls.AntibodyHistory,
        ls.AntibodyOverview,
        jobs.PipelineRun,
        jobs.SlurmJobState,
        facility.StorageSnapshot,
    ]
    return masters + part_tables(ls) + [jobs.PipelineRun.SlurmJob]


# --- activation -------------------------------------------------------------------------------------


def test_importing_the_schema_modules_does_not_touch_the_database():
    code = (
        "import schemas, schemas.seed, schemas.catalogue, schemas.enums\n"
        "assert schemas.get_active() is None\n"
        "assert all(m.schema.database is None for m in (schemas.lightsheet, schemas.jobs, schemas.facility))\n"
        "assert schemas.lightsheet.Request.full_table_name is None\n"
    )
    env = {**os.environ, "DJ_HOST": "192.0.2.1", "DJ_USER": "nobody", "DJ_PASS": "wrong", "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_activating_twice_with_the_same_prefix_is_harmless(db):
    insert_users(db.lightsheet, "alice")
    again = schemas.activate_all(db.prefix, db.connection)
    assert again is db and schemas.get_active() is db
    assert db.lightsheet.Request.full_table_name == f"`{db.prefix}lightsheet`.`request`"
    assert len(db.lightsheet.User()) == 1
    assert sorted(databases_with_prefix(db.prefix, db.connection)) == sorted(db.names)


def test_every_table_has_a_docstring_and_every_attribute_a_comment(db):
    for table in all_tables(db):
        assert (table.__doc__ or "").strip(), table.__name__
        for name, attr in table.heading.attributes.items():
            assert attr.comment.strip(), f"{table.__name__}.{name} has no comment"


def test_a_delete_can_cascade_from_every_table(db):
    # DataJoint 2 cascades with lineage-checked restrictions: a child attribute reached from two parents
    # with different lineages would make the delete fail. Build every cascade without executing it.
    for table in all_tables(db):
        counts = dj.Diagram.cascade(table(), part_integrity="ignore").counts()
        assert table.full_table_name in counts, table.__name__


# --- seeding ----------------------------------------------------------------------------------------


def test_seeding_twice_changes_nothing_and_matches_the_catalogue(db):
    ls = db.lightsheet
    second = seed_lookups(db)
    assert not second.changed, second
    assert len(ls.ClearingProtocol()) == 7
    counts = {p: len(ls.ClearingStep & {"protocol": p}) for p in catalogue.EXPECTED_STEP_COUNTS}
    assert counts == {
        "idisco_plus_immuno": 51,
        "idisco_abbreviated": 14,
        "idisco_abbreviated_rat": 14,
        "udisco": 10,
        "udisco_rat": 10,
        "idisco_edu": 43,
        "experimental": 0,
    }
    assert len(ls.ClearingSection & {"protocol": "idisco_plus_immuno"}) == 8
    lots = {
        r["section_key"]: r["lot_field"]
        for r in (ls.ClearingSection & {"protocol": "idisco_plus_immuno"}).to_dicts()
        if r["lot_field"] != "none"
    }
    assert lots == {"primary_antibody": "antibody1", "secondary_antibody": "antibody2"}
    step = (ls.ClearingStep & {"protocol": "idisco_edu", "step_key": "edu_click_chemistry"}).to_dicts()[0]
    assert (step["section_key"], step["step_order"], step["label"]) == ("edu_click", 26, "EdU click-chemistry reaction")
    atlases = {r["atlas_name"]: r for r in ls.Atlas.to_dicts()}
    assert set(atlases) == set(enums.ATLAS_NAME)
    pax = atlases["paxinos"]
    assert (pax["voxel_x_um"], pax["voxel_y_um"], pax["voxel_z_um"]) == (10, 100, 10)
    assert pax["annotation_path"] == "paxinos/annotation.tif"


def test_seeding_restores_a_changed_label_but_keeps_a_retired_protocol_retired(db):
    ls = db.lightsheet
    ls.ClearingStep.update1({"protocol": "udisco", "step_key": "clear_babb", "label": "edited"})
    ls.ClearingProtocol.update1({"protocol": "udisco", "is_active": 0})
    result = seed_lookups(db)
    assert result.updated == {"ClearingProtocol": 0, "ClearingSection": 0, "ClearingStep": 1, "Atlas": 0}
    row = (ls.ClearingStep & {"protocol": "udisco", "step_key": "clear_babb"}).to_dicts()[0]
    assert row["label"] == "BABB-D10 (more than 3 h)"
    assert (ls.ClearingProtocol & {"protocol": "udisco"}).to_dicts()[0]["is_active"] == 0
    ls.ClearingProtocol.update1({"protocol": "udisco", "is_active": 1})


# --- the request chain ------------------------------------------------------------------------------


def test_a_whole_request_chain_inserts_in_one_transaction(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls, samples=("s1", "s2"))
    for part in part_tables(ls):
        assert len(part & REQUEST) > 0, part.__name__
    batch = (ls.Request.ImagingBatch & REQUEST).to_dicts()[0]
    assert batch["imaging_signature"] == {"1.3x": ["488", "647"]}
    channel = (ls.Request.ImagingChannel & SAMPLE & {"channel_name": "488"}).to_dicts()[0]
    assert (channel["tiling_scheme"], channel["z_step"], channel["image_orientation"]) == ("1x1", 10, "horizontal")
    request = (ls.Request & REQUEST).to_dicts()[0]
    assert request["requested_by"] == "alice" and request["species"] == "mouse"


def test_a_failed_transaction_leaves_no_rows(db):
    ls = db.lightsheet
    with pytest.raises(dj.errors.IntegrityError):
        with db.connection.transaction:
            insert_request_chain(ls)
            ls.Request.Sample.insert1({**REQUEST, "sample_name": "s9"})
            # a clearing batch with a protocol that is not in the catalogue
            ls.Request.ClearingBatch.insert1(
                {**REQUEST, "clearing_batch_number": 2, "protocol": "nope", "number_in_batch": 1}
            )
    assert len(ls.Request()) == 0
    assert len(ls.Request.Sample()) == 0


def test_deleting_a_request_cascades_to_every_part_and_its_runs(db):
    ls, jobs = db.lightsheet, db.jobs
    with db.connection.transaction:
        insert_request_chain(ls)
        run_id = insert_pipeline_run(jobs)
    deleted = (ls.Request & REQUEST).delete(prompt=False)
    assert deleted == 1
    for part in part_tables(ls):
        assert len(part()) == 0, part.__name__
    assert len(jobs.PipelineRun & {"run_id": run_id}) == 0
    assert len(jobs.PipelineRun.SlurmJob()) == 0
    assert len(jobs.SlurmJobState()) == 0
    assert len(ls.User()) == 4  # parents are untouched


def test_deleting_inside_an_open_transaction_needs_no_prompt(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls)
    with db.connection.transaction:
        (ls.Request & REQUEST).delete(transaction=False, prompt=False)
    assert len(ls.Request()) == 0


def test_a_part_row_cannot_be_deleted_on_its_own_by_accident(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls)
    with pytest.raises(dj.DataJointError):
        (ls.Request.DataLayer & SAMPLE).delete(prompt=False)
    (ls.Request.DataLayer & SAMPLE).delete(prompt=False, part_integrity="ignore")
    assert len(ls.Request.DataLayer()) == 0
    assert len(ls.Request & REQUEST) == 1


# --- constraints ------------------------------------------------------------------------------------


def test_a_sample_cannot_be_in_two_clearing_batches(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls)
        ls.Request.ClearingBatch.insert1(
            {**REQUEST, "clearing_batch_number": 2, "protocol": "udisco", "number_in_batch": 1}
        )
    with pytest.raises(dj.errors.DuplicateError):
        ls.Request.ClearingBatchSample.insert1({**SAMPLE, "clearing_batch_number": 2})


def test_a_sample_is_in_one_imaging_batch_per_imaging_request_and_only_of_its_clearing_batch(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls)
        ls.Request.ImagingBatch.insert1(
            {
                **REQUEST,
                "clearing_batch_number": 1,
                "imaging_request_number": 1,
                "imaging_batch_number": 2,
                "number_in_imaging_batch": 1,
                "submitted_at": NOW,
                "imaging_signature": {"4x": ["488"]},
            }
        )
    with pytest.raises(dj.errors.DuplicateError):
        ls.Request.ImagingBatchSample.insert1(
            {**SAMPLE, "clearing_batch_number": 1, "imaging_request_number": 1, "imaging_batch_number": 2}
        )
    ls.Request.ClearingBatch.insert1(
        {**REQUEST, "clearing_batch_number": 2, "protocol": "udisco", "number_in_batch": 0}
    )
    ls.Request.ImagingBatch.insert1(
        {
            **REQUEST,
            "clearing_batch_number": 2,
            "imaging_request_number": 2,
            "imaging_batch_number": 1,
            "number_in_imaging_batch": 1,
            "submitted_at": NOW,
            "imaging_signature": {"4x": ["488"]},
        }
    )
    ls.Request.ImagingRequest.insert1(
        {**SAMPLE, "imaging_request_number": 2, "requested_by": "alice", "submitted_at": NOW}
    )
    with pytest.raises(dj.errors.IntegrityError):  # s1 is cleared in batch 1, not 2
        ls.Request.ImagingBatchSample.insert1(
            {**SAMPLE, "clearing_batch_number": 2, "imaging_request_number": 2, "imaging_batch_number": 1}
        )


@pytest.mark.parametrize(
    ("table", "bad"),
    [
        ("Request", {"species": "dog"}),
        ("Request", {"raw_data_retention_preference": "Not sure"}),
        ("ImagingChannel", {"channel_name": "489"}),
    ],
)
def test_an_enum_rejects_a_value_it_does_not_list(db, table, bad):
    ls = db.lightsheet
    insert_users(ls, "alice")
    request = {
        **REQUEST,
        "requested_by": "alice",
        "submitted_at": NOW,
        "labname": "lab",
        "correspondence_email": "a@example.org",
        "description": "d",
        "species": "mouse",
        "number_of_samples": 1,
    }
    if table == "Request":
        with pytest.raises(pymysql.err.DataError, match="Data truncated"):
            ls.Request.insert1({**request, **bad})
        assert len(ls.Request()) == 0
        return
    with db.connection.transaction:
        ls.Request.insert1(request)
        ls.Request.Sample.insert1(SAMPLE)
        ls.Request.ImagingRequest.insert1(
            {**SAMPLE, "imaging_request_number": 1, "requested_by": "alice", "submitted_at": NOW}
        )
        ls.Request.ImagingResolutionRequest.insert1(
            {**SAMPLE, "imaging_request_number": 1, "image_resolution": "1.3x", "microscope": "lavision"}
        )
    with pytest.raises(pymysql.err.DataError, match="Data truncated"):
        ls.Request.ImagingChannel.insert1(
            {**SAMPLE, "imaging_request_number": 1, "image_resolution": "1.3x", "ventral_up": 0, **bad}
        )


def test_request_and_sample_names_are_unique_case_insensitively(db):
    ls = db.lightsheet
    with db.connection.transaction:
        insert_request_chain(ls)
    with pytest.raises(dj.errors.DuplicateError):
        ls.Request.Sample.insert1({**REQUEST, "sample_name": "S1"})
    request = (ls.Request & REQUEST).to_dicts()[0]
    with pytest.raises(dj.errors.DuplicateError):
        ls.Request.insert1({**request, "request_name": "CFOS_Study"})


def test_a_foreign_key_to_an_unknown_user_is_refused(db):
    ls = db.lightsheet
    insert_users(ls, "alice")
    with pytest.raises(dj.errors.IntegrityError):
        ls.Request.insert1(
            {
                **REQUEST,
                "requested_by": "ghost",
                "submitted_at": NOW,
                "labname": "lab",
                "correspondence_email": "a@example.org",
                "description": "d",
                "species": "mouse",
                "number_of_samples": 1,
            }
        )


def test_a_user_gets_defaults_and_a_null_last_login(db):
    ls = db.lightsheet
    ls.User.insert1({"username": "bob"})
    row = (ls.User & {"username": "bob"}).to_dicts()[0]
    assert (row["email"], row["full_name"], row["is_active"], row["last_login_at"]) == ("", "", 1, None)
    assert isinstance(row["created_at"], dt.datetime)


def test_antibody_history_is_unique_per_batch_but_free_standing_trials_repeat(db):
    ls = db.lightsheet
    row = {
        "entry_date": TODAY,
        "brief_descriptor": "cFos",
        "animal_model": "C57BL/6J",
        "primary_antibody": "anti-cFos",
        "created_by": "clara",
        "created_at": NOW,
    }
    ls.AntibodyHistory.insert([row, row])  # no batch: nulls never collide
    batch = {"username": "alice", "request_name": "cfos_study", "clearing_batch_number": 1}
    ls.AntibodyHistory.insert1({**row, **batch})
    with pytest.raises(dj.errors.DuplicateError):
        ls.AntibodyHistory.insert1({**row, **batch})
    assert len(ls.AntibodyHistory()) == 3


# --- jobs and facility ------------------------------------------------------------------------------


def test_a_pipeline_run_records_its_slurm_job_and_state_history(db):
    ls, jobs = db.lightsheet, db.jobs
    with db.connection.transaction:
        insert_request_chain(ls)
        run_id = insert_pipeline_run(jobs)
    run = (jobs.PipelineRun & {"run_id": run_id}).to_dicts()[0]
    assert run["params"] == {"resolution": "1.3x", "channels": ["488", "647"]}
    assert (run["status"], run["attempt"], run["failure_reason"], run["code_commit"]) == ("queued", 1, "", None)
    job = (jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts()[0]
    assert (job["state"], job["depends_on_steps"], job["missing_polls"], job["raw_state"]) == ("SUBMITTED", [], 0, "")
    history = (jobs.SlurmJobState & {"run_id": run_id}).to_dicts()
    assert [h["observed_at"] for h in history] == [dt.datetime(2026, 1, 15, 9, 31, 2, 123456)]
    # namesake secondary attributes (state, raw_state, ...) have no lineage: project them away to join
    joined = (jobs.PipelineRun.SlurmJob.proj("step_name") * jobs.SlurmJobState & {"run_id": run_id}).to_dicts()
    assert [(j["step_name"], j["state"]) for j in joined] == [("stitch", "PENDING")]


def test_a_slurm_job_id_is_unique_when_set(db):
    ls, jobs = db.lightsheet, db.jobs
    with db.connection.transaction:
        insert_request_chain(ls)
        run_id = insert_pipeline_run(jobs)
    job = (jobs.PipelineRun.SlurmJob & {"run_id": run_id}).to_dicts()[0]
    unsubmitted = {**job, "slurm_job_id": None, "state": "NOT_SUBMITTED"}
    jobs.PipelineRun.SlurmJob.insert([{**unsubmitted, "step_index": 1}, {**unsubmitted, "step_index": 2}])
    with pytest.raises(dj.errors.DuplicateError):
        jobs.PipelineRun.SlurmJob.insert1({**job, "step_index": 3})


def test_a_storage_snapshot_is_one_row_per_check_and_file_system(db):
    facility = db.facility
    row = {"taken_at": NOW, "filesystem": "data", "size_tb": 100.0, "used_tb": 60.5, "avail_tb": 39.5, "status": "ok"}
    facility.StorageSnapshot.insert1(row)
    with pytest.raises(dj.errors.DuplicateError):
        facility.StorageSnapshot.insert1(row)
    assert (facility.StorageSnapshot & {"filesystem": "data"}).to_dicts()[0]["message"] == ""


# --- dropping ---------------------------------------------------------------------------------------


def test_drop_all_leaves_nothing_and_activation_can_switch_prefixes(db):
    connection, session_prefix = db.connection, db.prefix
    other = f"{session_prefix}other_"
    try:
        switched = schemas.activate_all(other, connection)
        assert sorted(databases_with_prefix(other, connection)) == sorted(switched.names)
        assert switched.lightsheet.Request.database == f"{other}lightsheet"
        schemas.drop_all(other, connection)
        assert databases_with_prefix(other, connection) == []
        assert schemas.get_active() is None
        schemas.drop_all(other, connection)  # dropping again is harmless
        schemas.activate_all(session_prefix, connection)
        with pytest.raises(dj.DataJointError, match="has not yet been declared"):
            schemas.activate_all(other, connection, create_tables=False)  # the app never creates schemas
        assert databases_with_prefix(other, connection) == []
        assert schemas.get_active().prefix == session_prefix  # the failed switch kept the binding
    finally:
        schemas.drop_all(other, connection)
        restored = schemas.activate_all(session_prefix, connection)
    assert restored.lightsheet.Request.database == f"{session_prefix}lightsheet"
    assert len(restored.lightsheet.ClearingProtocol()) == 7  # the session's data is untouched
