"""Deployment: SavedModel export with raw-input signatures (and TF Serving warmup records),
on-device (TFLite) signatures, and the TF-Serving-compatible server: REST
(`mmlm.serving.server`, imported on demand: it pulls in aiohttp), gRPC
(`mmlm.serving.grpc_server`) and model versions (`mmlm.serving.model_manager`)."""
