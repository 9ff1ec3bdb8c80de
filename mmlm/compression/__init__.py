"""Compression: pruning (TFMOT), quantization, distillation, TFLite conversion."""
