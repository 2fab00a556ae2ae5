"""What a view shows: layers named by wavelength and purpose, one panel per purpose, contrast from the data's own
percentiles. Unit tests of the pure parts (names, layouts, the Neuroglancer state) and
of the percentile read on real precomputed layers written by the product's converter."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lightserv.layers.labels import layer_label
from lightserv.viewer.groups import ResolvedLayer, layout
from tests.support.layers import write_atlas_layer, write_image_layer

from .test_servers import ngstate

INFO = {"voxel_nm": [5000, 5000, 10000], "lower": [0, 0, 0], "upper": [128, 96, 6]}


def img(name, product, channel, sheet="none", overlay=False):
    return ResolvedLayer(name, "image", "/x", product, channel, sheet, overlay)


def test_layers_are_named_by_wavelength_and_purpose():
    assert layer_label("registered", "488", purposes=("registration",)) == "488 nm · registration"
    assert layer_label("blended", "647", purposes=("cell_detection",)) == "647 nm · cells"
    assert layer_label("cells", "647", purposes=("cell_detection",)) == "Detected cells · 647 nm"
    assert layer_label("cells_registered", "647") == "Detected cells · 647 nm"
    assert layer_label("raw", "488", "left", ("registration",)) == "488 nm · registration · raw, left sheet"
    assert layer_label("stitched", "488", "right", ()) == "488 nm · stitched, right sheet"
    assert layer_label("corrected", "642", purposes=("injection_detection", "cell_detection")) == (
        "642 nm · cells, injection · destriped"
    )
    assert layer_label("downsized", "555") == "555 nm"  # generic imaging: the wavelength says it all


def test_the_full_resolution_view_puts_one_panel_per_channel_side_by_side_and_raw_sheets_only_when_asked():
    cells = ResolvedLayer("cells_ch647", "annotation", "/x", "cells", "647")
    default = [img("blended_ch647", "blended", "647"), cells, img("blended_ch555", "blended", "555")]
    assert layout(default, "full") == [[["blended_ch555"], ["blended_ch647", "cells_ch647"]]]
    asked = [*default, img("raw_ch647_left", "raw", "647", "left"), img("raw_ch647_right", "raw", "647", "right")]
    assert layout(asked, "full") == [
        [["blended_ch555"]],
        [["raw_ch647_left", "cells_ch647"], ["raw_ch647_right", "cells_ch647"], ["blended_ch647", "cells_ch647"]],
    ]


def test_neuroglancer_shows_the_labels_while_sources_and_the_layout_use_the_route_names():
    build_state = ngstate().build_state
    layers = [
        {"name": "registered_ch488_regch", "type": "image", "source": "precomputed://https://x/cv/s/registered_ch488_regch",
         "info": INFO, "label": "488 nm · registration", "range": [12, 3400]},
        {"name": "atlas_allen_2017", "type": "segmentation", "source": "precomputed://https://x/cv/s/atlas_allen_2017",
         "info": INFO, "label": "Allen atlas (2017)"},
        {"name": "registered_ch647_cellch", "type": "image", "source": "precomputed://https://x/cv/s/r647",
         "info": INFO, "label": "647 nm · cells"},
        {"name": "cells_registered_ch647", "type": "annotation", "source": "precomputed://https://x/cv/s/c647",
         "info": INFO, "label": "Detected cells · 647 nm"},
    ]  # fmt: skip
    panels = [[["registered_ch488_regch", "atlas_allen_2017"], ["registered_ch647_cellch", "cells_registered_ch647"]]]
    state = build_state(layers, panels, gain=45, variant="registration", title="brains / s1: 1.3x, dorsal, atlas")
    by_name = {layer["name"]: layer for layer in state["layers"]}
    assert list(by_name) == ["488 nm · registration", "Allen atlas (2017)", "647 nm · cells", "Detected cells · 647 nm"]
    assert by_name["488 nm · registration"]["source"].endswith("/cv/s/registered_ch488_regch")
    assert state["layout"]["children"] == [
        {"type": "viewer", "layers": ["488 nm · registration", "Allen atlas (2017)"], "layout": "xy"},
        {"type": "viewer", "layers": ["647 nm · cells", "Detected cells · 647 nm"], "layout": "xy"},
    ]
    assert state["selectedLayer"] == {"layer": "Allen atlas (2017)", "visible": False}
    assert state["title"] == "brains / s1: 1.3x, dorsal, atlas"
    # contrast: the data's range where known (Neuroglancer's contrast control), the gain otherwise
    ranged = by_name["488 nm · registration"]
    assert "#uicontrol invlerp normalized(range=[12, 3400])" in ranged["shader"] and "shaderControls" not in ranged
    assert "emitGrayscale(normalized())" in ranged["shader"]
    assert by_name["647 nm · cells"]["shaderControls"] == {"gain": 45}
    # a repeated label stays apart; a bad range is refused
    twice = [dict(layers[0]), {**layers[2], "label": "488 nm · registration"}]
    state = build_state(twice, [["registered_ch488_regch", "registered_ch647_cellch"]])
    names = [layer["name"] for layer in state["layers"]]
    assert names == ["488 nm · registration", "488 nm · registration (registered_ch647_cellch)"]
    with pytest.raises(ngstate().StateError, match="range"):
        build_state([{**layers[0], "range": [5, 5]}], [["registered_ch488_regch"]])
    env = {"NG_LAYERS": json.dumps(layers[:1]), "NG_LAYOUT": json.dumps([["registered_ch488_regch"]]),
           "NG_TITLE": "a title"}  # fmt: skip
    assert ngstate().state_from_env(env)["title"] == "a title"


def test_the_contrast_comes_from_percentiles_of_a_few_planes_of_the_coarsest_scale(tmp_path):
    from lib.precomputed.display_range import display_range

    volume = np.full((40, 300, 260), 100, dtype=np.uint16)  # z, y, x: dark background
    volume[:, 60:240, 40:220] = np.linspace(1000, 5000, 180, dtype=np.uint16)  # tissue, brighter to the right
    volume[:, :10, :10] = 65000  # a few hot pixels do not set the top
    layer = write_image_layer(tmp_path / "big", volume, scales=3)
    info = json.loads((layer / "info").read_text())
    coarsest = info["scales"][-1]
    assert len(info["scales"]) == 3 and coarsest["size"] == [65, 75, 40]
    low, high = display_range(layer)
    assert low == 100 and 4800 < high <= 5000, (low, high)
    # one chunk per plane and a budget of two planes: still the data's range, read from two planes only
    single = write_image_layer(tmp_path / "single", volume, scales=1)
    assert display_range(single, budget=2 * 300 * 260) == pytest.approx((low, high), rel=0.1)
    tiled = write_image_layer(tmp_path / "tiled", volume, scales=1, chunk_size=[64, 64, 4])  # many chunks a plane
    assert display_range(tiled) == display_range(single, budget=16 * 300 * 260)
    flat = write_image_layer(tmp_path / "flat", np.zeros((4, 32, 32), dtype=np.uint16))
    assert display_range(flat) is None  # nothing to stretch: the fixed gain stays
    assert display_range(write_atlas_layer(tmp_path / "atlas")) is None  # not an image
    assert display_range(tmp_path / "missing") is None

