"""The registry of precomputed layers (DataLayer) and the conversion runs that make them."""
