"""Deployment: SavedModel export with raw-input signatures, on-device (TFLite) signatures and
the TF-Serving-compatible REST server (`mmlm.serving.server`, imported on demand: it pulls in
aiohttp)."""
