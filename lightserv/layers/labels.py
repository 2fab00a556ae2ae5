"""A layer in plain words, in one place: the setup and session pages, the viewer's layer names and the
processing emails all describe a layer row (product, channel, light sheet) through these functions, so a
researcher never reads a layer key such as `blended_ch488` or `atlas_allen_2017`. Pure functions, no database.
"""

from __future__ import annotations

from schemas.enums import ATLAS_LABELS

#: what each product is, as the pages and emails say it
PRODUCT_LABELS = {
    "stitched": "stitched planes",
    "blended": "blended full-resolution planes",
    "downsized": "downsized volume",
    "registered": "registered volume",
    "cells": "detected cells",
    "cells_registered": "detected cells in atlas space",
    "corrected": "destriped planes",
    "raw": "raw planes",
}
ANNOTATION_PRODUCTS = ("cells", "cells_registered")
#: what a channel was imaged for, as a layer's name in the viewer says it (ImagingChannel purpose columns);
#: generic imaging adds nothing
PURPOSE_WORDS = {
    "registration": "registration",
    "cell_detection": "cells",
    "injection_detection": "injection",
    "probe_detection": "probe",
}
#: how a viewer layer's name tells its product apart from the channel's main image of its space
PRODUCT_WORDS = {"raw": "raw", "stitched": "stitched", "corrected": "destriped"}


def product_words(product: str, lightsheet: str = "none") -> str:
    """"blended full-resolution planes", "raw planes, left sheet"."""
    words = PRODUCT_LABELS.get(product, product.replace("_", " "))
    return words + (f", {lightsheet} sheet" if lightsheet not in ("", "none") else "")


def layer_words(product: str, channel: str, lightsheet: str = "none") -> str:
    """A layer row on a page: "488 nm · blended full-resolution planes"."""
    return f"{channel} nm · {product_words(product, lightsheet)}"


def layer_label(product: str, channel: str, lightsheet: str = "none", purposes: tuple[str, ...] = ()) -> str:
    """The name a layer has in Neuroglancer: wavelength and purpose ("488 nm · registration"), the product when
    it is not the channel's main image ("488 nm · registration · raw, left sheet"); detected cells "Detected
    cells · 647 nm"."""
    if product in ANNOTATION_PRODUCTS:
        return f"Detected cells · {channel} nm"
    words = [f"{channel} nm", *(word for p, word in PURPOSE_WORDS.items() if p in purposes)]
    label = " · ".join([words[0], ", ".join(words[1:])] if len(words) > 1 else words)
    kind = PRODUCT_WORDS.get(product)
    if kind:
        label += f" · {kind}" + (f", {lightsheet} sheet" if lightsheet != "none" else "")
    return label


def atlas_label(atlas_name: str) -> str:
    """"Allen atlas (2017)"."""
    return ATLAS_LABELS.get(atlas_name, atlas_name)
