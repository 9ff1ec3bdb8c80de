"""Experiments: what the CLI runs. Each joins data, a task, the one trainer and evaluation.

This is the only package that imports both `training` and `evaluation` (it sits above them).
"""
