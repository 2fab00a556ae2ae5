"""`flask install-atlas`: checks the template, annotation and ontology (readable 3-D
TIFFs of one shape, integer labels, every label named in the ontology) and reports every problem; installs
by renaming a complete staging folder into ATLAS_ROOT/<name>/ (with the viewer's segmentation layer), then
registers the files in the Atlas row with an event. A refused installation changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from sqlalchemy import select

from lightserv.db import get_schemas
from lightserv.extensions import db
from lightserv.models import EventLog

NAME = "paxinos"
SHAPE = (6, 16, 20)  # z, y, x
ONTOLOGY = {"msg": [{"id": 997, "name": "root", "acronym": "root", "children": [
    {"id": 567, "name": "Cerebrum", "acronym": "CH", "children": []},
    {"id": 8, "name": "Basic cell groups and regions", "acronym": "grey", "children": []},
]}]}  # fmt: skip


def _annotation(shape=SHAPE, dtype=np.uint16) -> np.ndarray:
    labels = np.zeros(shape, dtype=dtype)
    labels[:, 2:14, 2:10] = 567
    labels[:, 2:14, 10:18] = 8
    return labels


def write_files(folder: Path, *, template=None, annotation=None, ontology=None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"template": folder / "t.tif", "annotation": folder / "a.tif", "ontology": folder / "o.json"}
    rng = np.random.default_rng(3)
    tmpl = rng.integers(0, 4000, SHAPE, dtype=np.uint16) if template is None else template
    tifffile.imwrite(paths["template"], tmpl, photometric="minisblack")
    tifffile.imwrite(paths["annotation"], _annotation() if annotation is None else annotation, photometric="minisblack")
    text = ontology if isinstance(ontology, str) else json.dumps(ONTOLOGY if ontology is None else ontology)
    paths["ontology"].write_text(text)
    return paths


@pytest.fixture
def atlas_slot(app):
    """ATLAS_ROOT/paxinos and its Atlas row as they were, restored afterwards."""
    root = Path(app.config["SETTINGS"].atlas_root)
    folder, saved = root / NAME, root / f"{NAME}.saved-by-test"
    if folder.exists():
        shutil.rmtree(saved, ignore_errors=True)
        folder.rename(saved)
    with app.app_context():
        before = (get_schemas().lightsheet.Atlas & {"atlas_name": NAME}).to_dicts()[0]
    yield root
    with app.app_context():
        get_schemas().lightsheet.Atlas.update1(before)
    for leftover in [folder, *root.glob(f".{NAME}.*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    if saved.exists():
        saved.rename(folder)


def run(app, paths: dict[str, Path], *extra: str, name: str = NAME):
    runner = app.test_cli_runner()
    args = ["install-atlas", "--name", name, "--template", str(paths["template"]), "--annotation",
            str(paths["annotation"]), "--ontology", str(paths["ontology"]), *extra]  # fmt: skip
    return runner.invoke(args=args, catch_exceptions=False)


def atlas_row(app) -> dict:
    with app.app_context():
        return (get_schemas().lightsheet.Atlas & {"atlas_name": NAME}).to_dicts()[0]


def events(app) -> list[EventLog]:
    with app.app_context():
        rows = list(db.session.scalars(select(EventLog).where(EventLog.action == "atlas.installed")))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_valid_atlas_is_installed_and_registered(app, atlas_slot, tmp_path):
    paths = write_files(tmp_path / "src")
    with app.app_context():
        get_schemas().lightsheet.Atlas.update1({"atlas_name": NAME, "is_active": 0})
    result = run(app, paths)
    assert result.exit_code == 0, result.output
    assert "Installed paxinos" in result.output and "6×16×20 voxels (z, y, x), 2 labels" in result.output
    folder = atlas_slot / NAME
    assert sorted(p.name for p in folder.iterdir()) == [
        "annotation.tif",
        "ontology.json",
        "precomputed",
        "template.tif",
    ]
    for source, installed in (
        ("template", "template.tif"),
        ("annotation", "annotation.tif"),
        ("ontology", "ontology.json"),
    ):
        assert (folder / installed).read_bytes() == paths[source].read_bytes()
    info = json.loads((folder / "precomputed" / "info").read_text())
    assert info["type"] == "segmentation" and info["scales"][0]["size"] == [20, 16, 6]
    assert info["scales"][0]["resolution"] == [10000, 100000, 10000]  # the catalogue's 10/100/10 µm
    regions = json.loads((folder / "precomputed" / "segment_properties" / "info").read_text())
    assert set(regions["inline"]["ids"]) == {"997", "567", "8"}
    assert not list(atlas_slot.glob(f".{NAME}.install-*"))  # no staging folder left
    assert (folder.stat().st_mode & 0o7777) == 0o2750 and ((folder / "template.tif").stat().st_mode & 0o777) == 0o640
    row = atlas_row(app)
    assert row["is_active"] == 1 and row["template_path"] == "paxinos/template.tif"
    assert row["annotation_path"] == "paxinos/annotation.tif" and row["precomputed_path"] == "paxinos/precomputed"
    (event,) = events(app)
    assert event.actor is None and event.entity_key == {"atlas_name": NAME}
    assert event.after["shape_zyx"] == list(SHAPE) and event.after["labels"] == 2 and event.after["regions"] == 3
    import hashlib

    assert event.after["sha256"]["template.tif"] == hashlib.sha256(paths["template"].read_bytes()).hexdigest()
    assert event.before["is_active"] == 0 and event.after["is_active"] == 1


def test_the_installed_atlas_is_offered_and_opens_in_the_viewer(app, atlas_slot, tmp_path, client, login_as):
    assert run(app, write_files(tmp_path / "src")).exit_code == 0
    with app.app_context():
        from lightserv.processing.start import atlas_problem

        assert atlas_problem(NAME) is None
    login_as()
    from tests.conftest import csrf_from

    page = client.get(f"/viewer/atlas/{NAME}")
    assert page.status_code == 200  # its page, with the button that opens it
    resp = client.post(f"/viewer/atlas/{NAME}/open", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 303  # a session of the atlas layer is launched


def test_installing_again_replaces_the_files_and_keeps_the_previous_ones(app, atlas_slot, tmp_path):
    first = write_files(tmp_path / "one")
    assert run(app, first).exit_code == 0
    second = write_files(tmp_path / "two", template=np.full(SHAPE, 7, dtype=np.uint16))
    result = run(app, second)
    assert result.exit_code == 0, result.output
    assert (atlas_slot / NAME / "template.tif").read_bytes() == second["template"].read_bytes()
    previous = atlas_slot / f".{NAME}.previous"
    assert (previous / "template.tif").read_bytes() == first["template"].read_bytes()
    assert f"The previous files are kept in {previous}" in result.output
    assert len(events(app)) == 2


def test_inactive_installs_without_offering_it(app, atlas_slot, tmp_path):
    result = run(app, write_files(tmp_path / "src"), "--inactive", "--no-precomputed")
    assert result.exit_code == 0, result.output
    assert "not offered for processing" in result.output
    assert atlas_row(app)["is_active"] == 0
    assert not (atlas_slot / NAME / "precomputed").exists()


def _refused(app, atlas_slot, paths, *messages: str, name: str = NAME) -> None:
    before_row, before_events = atlas_row(app), len(events(app))
    existed = (atlas_slot / NAME).exists()
    result = run(app, paths, name=name)
    assert result.exit_code == 1
    assert f"The atlas {name} was not installed:" in result.output
    for message in messages:
        assert message in result.output, result.output
    assert (atlas_slot / NAME).exists() == existed  # nothing copied
    assert not list(atlas_slot.glob(f".{NAME}.install-*"))
    assert atlas_row(app) == before_row and len(events(app)) == before_events


def test_mismatched_shapes_are_refused(app, atlas_slot, tmp_path):
    paths = write_files(tmp_path / "src", annotation=_annotation(shape=(6, 16, 24)))
    _refused(app, atlas_slot, paths, "The annotation is 6×16×24 but the template is 6×16×20 (z, y, x)")


def test_an_installed_atlas_stays_when_new_files_are_refused(app, atlas_slot, tmp_path):
    good = write_files(tmp_path / "good")
    assert run(app, good).exit_code == 0
    bad = write_files(tmp_path / "bad", annotation=_annotation(shape=(5, 16, 20)))
    _refused(app, atlas_slot, bad, "both must be on the same grid")
    assert (atlas_slot / NAME / "annotation.tif").read_bytes() == good["annotation"].read_bytes()


@pytest.mark.parametrize(
    ("ontology", "message"),
    [
        ("{not json", "is not readable JSON"),
        ({"msg": [{"id": 997, "name": "root", "children": [{"id": 567, "name": "Cerebrum"}]}]},
         "1 label of the annotation is not in the ontology: 8."),
        ({"msg": [{"id": 997, "name": "root", "children": [{"id": 567}]}]}, "has a node without id and name"),
        ({"msg": []}, "lists no regions"),
        ([{"id": 8, "name": "a"}, {"id": 8, "name": "b"}, {"id": 567, "name": "c"}], "lists region id 8 twice"),
    ],
)  # fmt: skip
def test_a_bad_ontology_is_refused(app, atlas_slot, tmp_path, ontology, message):
    _refused(app, atlas_slot, write_files(tmp_path / "src", ontology=ontology), message)


def test_many_missing_labels_are_counted_and_listed_briefly(app, atlas_slot, tmp_path):
    labels = np.arange(np.prod(SHAPE), dtype=np.uint32).reshape(SHAPE) % 40 + 1000
    paths = write_files(tmp_path / "src", annotation=labels)
    _refused(app, atlas_slot, paths, "40 labels of the annotation are not in the ontology: 1000, 1001,", "…")


def test_unreadable_and_flat_files_are_refused(app, atlas_slot, tmp_path):
    paths = write_files(tmp_path / "src")
    paths["template"].write_text("not a tiff")
    tifffile.imwrite(paths["annotation"], np.zeros((16, 20), dtype=np.uint16))
    _refused(app, atlas_slot, paths, "The template", "is not a readable TIFF",
             "The annotation", "must be a 3-D stack (several pages), but its shape is (16, 20)")  # fmt: skip


def test_fractional_and_negative_labels_are_refused(app, atlas_slot, tmp_path):
    paths = write_files(tmp_path / "src", annotation=_annotation(dtype=np.float32) + 0.5)
    _refused(app, atlas_slot, paths, "labels must be whole numbers")
    paths = write_files(tmp_path / "src2", annotation=_annotation(dtype=np.int16) * -1)
    _refused(app, atlas_slot, paths, "negative labels")


def test_missing_files_and_every_problem_at_once(app, atlas_slot, tmp_path):
    paths = write_files(tmp_path / "src", annotation=_annotation(shape=(6, 16, 24)), ontology="[]")
    paths["template"].unlink()
    result = run(app, paths)
    assert result.exit_code == 1
    assert "The template" in result.output and "does not exist" in result.output
    assert "lists no regions" in result.output


def test_an_unknown_atlas_name_is_refused(app, atlas_slot, tmp_path):
    result = run(app, write_files(tmp_path / "src"), name="waxholm_rat")
    assert result.exit_code == 1
    assert "Unknown atlas 'waxholm_rat'; the atlases are allen_2017, allen_2011, princeton_mouse_atlas, paxinos." in (
        result.output
    )


def test_a_database_failure_puts_the_previous_files_back(app, atlas_slot, tmp_path, monkeypatch):
    good = write_files(tmp_path / "good")
    assert run(app, good).exit_code == 0
    from lightserv.admin import atlases

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(atlases, "_register", broken)
    other = write_files(tmp_path / "other", template=np.full(SHAPE, 9, dtype=np.uint16))
    result = run(app, other)
    assert result.exit_code == 1 and "the previous files are back: database went away" in result.output
    assert (atlas_slot / NAME / "template.tif").read_bytes() == good["template"].read_bytes()
    assert not list(atlas_slot.glob(f".{NAME}.install-*"))
