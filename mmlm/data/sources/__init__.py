"""Data sources: generated scenes, the user's manifest, TFDS data sets by name."""
