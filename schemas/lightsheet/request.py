"""Users, and each request with every part table below it (deleting a request cascades to all of them)."""

from __future__ import annotations

import datajoint as dj

from ..enums import (
    ACCESS_LEVEL,
    ATLAS_NAME,
    CHANNEL_NAME,
    CHANNEL_ROLE,
    CLEARING_PROGRESS,
    IMAGE_RESOLUTION,
    IMAGING_BATCH_PROGRESS,
    IMAGING_REQUEST_PROGRESS,
    LAYER_PRODUCT,
    LAYER_STATUS,
    LAYER_TYPE,
    LIGHTSHEET,
    MICROSCOPE,
    ORIENTATION,
    PIPELINE_STATUS,
    PROCESSING_PROGRESS,
    RETENTION_PREFERENCE,
    SPECIES,
    VALIDATION_STATUS,
    sql_enum,
)
from .base import schema
from .catalogue import ClearingProtocol  # noqa: F401 - referenced by name in ClearingBatch.definition

# DataLayer: layer names are unique per (sample, imaging request, processing request, resolution)
_LAYER_NAME_INDEX = (
    "unique index (username, request_name, sample_name, imaging_request_number, processing_request_number, "
    "image_resolution, layer_name)"
)


# --- users and requests -------------------------------------------------------------------------------


@schema
class User(dj.Manual):
    """A person known to the portal (researcher or staff). Roles live in the application database."""

    definition = """
    # portal user
    username : varchar(32)                                # login name, ^[a-z0-9][a-z0-9._-]{0,31}$
    ---
    email = '' : varchar(100)                             # <username>@<EMAIL_DOMAIN> when created
    full_name = '' : varchar(100)                         # display name
    is_active = 1 : bool                                  # 0: may no longer log in or be chosen
    created_at = CURRENT_TIMESTAMP : datetime             # UTC; insert paths supply it explicitly
    last_login_at = null : datetime                       # UTC, null until the first login
    """


@schema
class Request(dj.Manual):
    """A request: one owner's set of samples to clear, image and process. Master of every part below."""

    definition = f"""
    # light-sheet request
    -> User                                               # the owner
    request_name : varchar(64)                            # ^[A-Za-z0-9_]+$; unique per owner case-insensitively
    ---
    -> User.proj(requested_by='username')                 # the submitter (differs when staff file for someone)
    submitted_at : datetime                               # UTC
    labname : varchar(100)                                # as entered, trimmed
    correspondence_email : varchar(100)                   # lower-cased
    description : varchar(250)                            # free text
    species : {sql_enum(SPECIES)}                         # species of all samples
    number_of_samples : tinyint unsigned                  # 1-50
    raw_data_retention_preference = 'not_sure' : {sql_enum(RETENTION_PREFERENCE)}  # how long to keep raw data
    testing = 0 : bool                                    # 1: excluded from dashboard and reports
    is_archival = 0 : bool                                # 1: created by archival import only
    self_clearing = 0 : bool                              # as ticked on the form
    self_imaging = 0 : bool                               # as ticked on the form
    form_version = '1' : varchar(16)                      # version of the request form used
    """

    class Access(dj.Part):
        """Read-only (auditor) or collaborator access to a request for a user other than the owner."""

        definition = f"""
        # access granted to a non-owner
        -> master                                         # the request
        -> User.proj(grantee='username')                  # the user granted access; never the owner
        ---
        access_level = 'auditor' : {sql_enum(ACCESS_LEVEL)}  # auditor: read-only; collaborator: may act
        cc_on_emails = 0 : bool                           # 1: collaborator opted in to the request's e-mails
        -> User.proj(granted_by='username')               # who granted the access
        granted_at : datetime                             # UTC
        """

    class Sample(dj.Part):
        """A sample (brain) of the request."""

        definition = """
        # sample of a request
        -> master                                         # the request
        sample_name : varchar(64)                         # ^[A-Za-z0-9_-]+$; unique in request case-insensitively
        ---
        subject_fullname = null : varchar(64)             # from the subject directory when configured
        perfusion_date = null : date                      # facility-local date
        expected_handoff_date = null : date               # facility-local date; required unless self-clearing
        notes_for_clearer = '' : varchar(400)             # free text for the clearing staff
        """

    class ClearingBatch(dj.Part):
        """Samples of a request cleared together with one protocol and antibody pair."""

        definition = f"""
        # clearing batch of a request
        -> master                                         # the request
        clearing_batch_number : tinyint unsigned          # 1.. in order of first appearance
        ---
        -> ClearingProtocol                               # the protocol
        antibody1 = '' : varchar(100)                     # primary antibody, stripped of surrounding whitespace
        antibody2 = '' : varchar(100)                     # secondary antibody, stripped of surrounding whitespace
        antibody1_lot = null : varchar(64)                # entered during clearing
        antibody2_lot = null : varchar(64)                # entered during clearing
        clearing_progress = 'pending' : {sql_enum(CLEARING_PROGRESS)}  # pending / in_progress / complete
        number_in_batch : tinyint unsigned                # number of samples in the batch
        -> [nullable] User.proj(clearer='username')       # who holds the batch; null = not assigned
        claimed_at = null : datetime                      # UTC
        started_at = null : datetime                      # UTC
        completed_at = null : datetime                    # UTC
        exp_notes = '' : varchar(1000)                    # "Experiment notes"
        clearing_notes = '' : varchar(1000)               # "Clearing facility notes"
        link_to_clearing_spreadsheet = null : varchar(512)  # URL; experimental protocol and archival requests
        index (clearing_progress, completed_at)           # the clearing queue's tables
        """

    class ClearingBatchSample(dj.Part):
        """Membership of a sample in its (only) clearing batch."""

        definition = """
        # sample in a clearing batch
        -> master.Sample                                  # the sample
        -> master.ClearingBatch                           # its clearing batch (same request)
        ---
        unique index (username, request_name, sample_name)  # one clearing batch per sample
        """

    class ClearingStepEntry(dj.Part):
        """Timestamp and notes of one clearing step of a batch, or the reason it was skipped."""

        definition = """
        # recorded clearing step of a batch
        -> master.ClearingBatch                           # the batch
        step_key : varchar(64)                            # must exist in ClearingStep for the batch's protocol
        ---
        step_time = null : datetime                       # UTC (entered in facility time)
        step_notes = '' : varchar(500)                    # free text
        skip_reason = '' : varchar(500)                   # non-empty: the step was skipped, for this reason
        -> User.proj(updated_by='username')               # who saved it last
        updated_at : datetime                             # UTC, last save (optimistic concurrency token)
        """

    class ClearingSectionDate(dj.Part):
        """The day a section of a batch's protocol is planned or done."""

        definition = """
        # section date of a clearing batch
        -> master.ClearingBatch                           # the batch
        section_key : varchar(32)                         # must exist in ClearingSection for the protocol
        ---
        section_date = null : date                        # facility-local date
        -> User.proj(updated_by='username')               # who saved it last
        updated_at : datetime                             # UTC, last save (optimistic concurrency token)
        """

    class ImagingRequest(dj.Part):
        """A request to image one sample (number 1 with the request, then more on demand)."""

        definition = f"""
        # imaging request of a sample
        -> master.Sample                                  # the sample
        imaging_request_number : tinyint unsigned         # 1 with the request; then max over the request + 1
        ---
        -> User.proj(requested_by='username')             # who asked for the imaging
        submitted_at : datetime                           # UTC
        -> [nullable] User.proj(imager='username')        # who images; null = not assigned
        self_imaging = 0 : bool                           # 1: the owner images
        imaging_progress = 'pending' : {sql_enum(IMAGING_REQUEST_PROGRESS)}  # skipped counts as done
        imaging_performed_date = null : date              # facility-local date, set on sample submit
        skip_reason = '' : varchar(500)                   # why imaging was skipped
        notes_from_imaging = '' : varchar(2048)           # free text from the imager
        validation_status = 'none' : {sql_enum(VALIDATION_STATUS)}  # raw-data validation of the last submit
        validation_messages = null : json                 # list of messages from the last failed validation
        """

    class ImagingBatch(dj.Part):
        """Samples of a clearing batch imaged together for one imaging request number."""

        definition = f"""
        # imaging batch within a clearing batch
        -> master.ClearingBatch                           # the clearing batch
        imaging_request_number : tinyint unsigned         # imaging request number of its members
        imaging_batch_number : tinyint unsigned           # 1.. within the clearing batch and imaging request number
        ---
        -> [nullable] User.proj(imager='username')        # who images; null = not assigned
        number_in_imaging_batch : tinyint unsigned        # number of member samples
        submitted_at : datetime                           # UTC
        imaging_progress = 'pending' : {sql_enum(IMAGING_BATCH_PROGRESS)}  # pending / in_progress / complete
        claimed_at = null : datetime                      # UTC
        started_at = null : datetime                      # UTC
        completed_at = null : datetime                    # UTC
        imaging_performed_date = null : date              # facility-local date
        imaging_signature : json                          # resolution -> channels with a purpose, e.g. 1.3x: [488, 647]
        clearing_state = 'pending' : {sql_enum(CLEARING_PROGRESS)}  # copied by triggers from its clearing batch
        index (imaging_progress, submitted_at)            # the imaging queue's tables
        index (imaging_progress, clearing_state, submitted_at)  # ready to image / waiting for clearing
        index (imaging_progress, completed_at)            # imaged, newest first
        """

    class ImagingBatchSample(dj.Part):
        """Membership of a sample's imaging request in an imaging batch of its own clearing batch."""

        definition = """
        # sample in an imaging batch
        -> master.ImagingBatch                            # the imaging batch
        -> master.ClearingBatchSample                     # the member, cleared in this batch (adds sample_name)
        ---
        unique index (username, request_name, sample_name, imaging_request_number)  # one batch per imaging request
        """

    class ImagingResolutionRequest(dj.Part):
        """A resolution to image a sample at, for one imaging request."""

        definition = f"""
        # requested imaging resolution
        -> master.ImagingRequest                          # the imaging request
        image_resolution : {sql_enum(IMAGE_RESOLUTION)}   # objective magnification
        ---
        microscope : {sql_enum(MICROSCOPE)}               # derived from the resolution on every insert
        notes_for_imager = '' : varchar(1024)             # free text for the imager
        """

    class ImagingChannel(dj.Part):
        """A channel (wavelength, side) to acquire at a resolution, with its purposes and parameters."""

        definition = f"""
        # imaging channel of a resolution request
        -> master.ImagingResolutionRequest                # the resolution request
        channel_name : {sql_enum(CHANNEL_NAME)}           # nm, excitation wavelength; must belong to the microscope
        ventral_up : bool                                 # 1: ventral side up; 0: dorsal up
        ---
        registration = 0 : bool                           # purpose: registration to an atlas
        injection_detection = 0 : bool                    # purpose: injection detection
        probe_detection = 0 : bool                        # purpose: probe detection
        cell_detection = 0 : bool                         # purpose: cell detection
        generic_imaging = 0 : bool                        # purpose: generic imaging
        added_during_imaging = 0 : bool                   # 1: row created by imaging staff, not requested
        imaging_date = null : date                        # facility-local date
        zoom_body_magnification = null : decimal(4,2)     # 2x only (0.63-6.30); 1.00 when 2x and not entered
        image_orientation = 'horizontal' : {sql_enum(ORIENTATION)}  # orientation of the sample in the microscope
        left_lightsheet_used = 1 : bool                   # 1: left light sheet on
        right_lightsheet_used = 1 : bool                  # 1: right light sheet on
        tiling_scheme = '1x1' : varchar(5)                # <columns>x<rows>
        tiling_overlap = 0 : float32                      # fraction, 0 <= v < 1
        z_step = 10 : float32                             # µm, 2-1000
        number_of_z_planes = null : smallint unsigned     # 1-5500, entered per sample
        rawdata_subfolder = null : varchar(512)           # relative to the resolution folder
        imspector_channel_index = null : tinyint unsigned  # LaVision Filter index, set on sample submit
        numerical_aperture = null : float32               # optional
        pixel_type = null : varchar(16)                   # optional, e.g. uint16
        """

    class ProcessingRequest(dj.Part):
        """A request to process the images of one imaging request."""

        definition = f"""
        # processing request of an imaging request
        -> master.ImagingRequest                          # the imaging request
        processing_request_number : tinyint unsigned      # 1.. within the imaging request
        ---
        -> User.proj(requested_by='username')             # who asked for the processing
        submitted_at : datetime                           # UTC
        -> [nullable] User.proj(processor='username')     # set when someone starts it
        processing_progress = 'pending' : {sql_enum(PROCESSING_PROGRESS)}  # pending / running / complete / failed
        started_at = null : datetime                      # UTC
        completed_at = null : datetime                    # UTC
        notes_from_processing = '' : varchar(1024)        # free text from the processor
        failure_summary = '' : varchar(1024)              # plain-language reason of the latest failure
        imaging_state = 'pending' : {sql_enum(IMAGING_REQUEST_PROGRESS)}  # copied by triggers from its imaging request
        index (processing_progress, submitted_at)         # the processing queue's tables
        index (processing_progress, imaging_state, submitted_at)  # ready to process / waiting for imaging
        index (processing_progress, completed_at)         # processed, newest first
        """

    class ProcessingResolutionRequest(dj.Part):
        """Processing parameters of one imaged resolution and side (never 2x)."""

        definition = f"""
        # processing of one resolution and side
        -> master.ProcessingRequest                       # the processing request
        -> master.ImagingResolutionRequest                # the imaged resolution (adds image_resolution; never 2x)
        ventral_up : bool                                 # 1: the ventral-up acquisition
        ---
        atlas_name = 'allen_2017' : {sql_enum(ATLAS_NAME)}  # registration atlas
        final_orientation = 'sagittal' : {sql_enum(ORIENTATION)}  # sagittal when a registration channel exists
        notes_for_processor = '' : varchar(1024)          # free text for the processor
        pipeline_status = 'not_started' : {sql_enum(PIPELINE_STATUS)}  # cache of the latest run, kept by the poller
        output_dir = null : varchar(1024)                 # relative to DATA_ROOT, set at start
        """

    class ProcessingChannel(dj.Part):
        """A channel passed to the pipeline for one processing resolution request."""

        definition = f"""
        # channel of a processing resolution request
        -> master.ProcessingResolutionRequest             # the processing resolution request
        channel_name : {sql_enum(CHANNEL_NAME)}           # nm; a matching ImagingChannel must exist
        ---
        channel_role : {sql_enum(CHANNEL_ROLE)}           # pipeline role (processing.md 4.4)
        channel_index : tinyint unsigned                  # two-digit index passed to the pipeline
        intensity_correction = 1 : bool                   # 1: apply intensity correction
        is_alignment_channel = 0 : bool                   # SmartSPIM: the channel whose displacements are reused
        flatfield_filename = null : varchar(64)           # SmartSPIM destriping; a bare file name
        processing_started_at = null : datetime           # UTC
        processing_completed_at = null : datetime         # UTC
        """

    class DataLayer(dj.Part):
        """Registry of every precomputed (Neuroglancer) layer made from a request's data."""

        definition = f"""
        # precomputed layer
        -> master                                         # the request
        sample_name : varchar(64)                         # the sample
        imaging_request_number : tinyint unsigned         # the imaging request
        processing_request_number : tinyint unsigned      # 0 for imaging-level products (raw)
        image_resolution : {sql_enum(IMAGE_RESOLUTION)}   # objective magnification
        ventral_up : bool                                 # 1: ventral-up acquisition
        channel_name : {sql_enum(CHANNEL_NAME)}           # nm, excitation wavelength
        product : {sql_enum(LAYER_PRODUCT)}               # what the layer shows
        lightsheet : {sql_enum(LIGHTSHEET)}               # left/right for raw and stitched, else none
        -> master.ImagingChannel                          # the imaged channel the layer shows (no new columns)
        ---
        layer_name : varchar(128)                         # viewer.md 2; unique per sample, IR, PR, resolution
        layer_type : {sql_enum(LAYER_TYPE)}               # Neuroglancer layer type
        layer_path : varchar(1024)                        # relative to DATA_ROOT
        source_path : varchar(1024)                       # relative to DATA_ROOT; data the layer was made from
        status = 'pending' : {sql_enum(LAYER_STATUS)}     # pending / converting / ready / failed
        data_type = 'uint16' : varchar(16)                # voxel data type
        voxel_x_nm = null : float32                       # nm, mip 0 resolution along x
        voxel_y_nm = null : float32                       # nm, mip 0 resolution along y
        voxel_z_nm = null : float32                       # nm, mip 0 resolution along z
        size_x = null : int unsigned                      # voxels, mip 0 size along x
        size_y = null : int unsigned                      # voxels, mip 0 size along y
        size_z = null : int unsigned                      # voxels, mip 0 size along z
        num_scales = null : tinyint unsigned              # number of mip levels
        run_id = null : int unsigned                      # jobs.PipelineRun that made it (soft reference)
        created_at : datetime                             # UTC
        ready_at = null : datetime                        # UTC
        failure_reason = '' : varchar(512)                # why conversion failed
        # layer names are unique per (sample, imaging request, processing request, resolution)
        {_LAYER_NAME_INDEX}
        """
