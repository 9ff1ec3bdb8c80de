"""`mmlm compress`'s variants: which are built, from which fine-tuning, in which directory."""

import dataclasses

import pytest

from mmlm.experiments import compress
from mmlm.experiments.compression_finetune import prune_and_finetune
from mmlm.testing.data import smoke_config


def _variants(monkeypatch, **compression):
    """`build_variants`' names and the pruning calls it makes (fine-tuning replaced)."""
    calls = []

    def pruned_backbone(config, workdir, sparsity, backbone=None, log=print, m_by_n=None):
        calls.append((sparsity, m_by_n))
        return f"pruned {sparsity} {m_by_n}"

    monkeypatch.setattr(compress, "pruned_backbone", pruned_backbone)
    monkeypatch.setattr(compress, "load_backbone", lambda workdir: "trained")
    config = smoke_config()
    config = dataclasses.replace(
        config, compression=dataclasses.replace(config.compression, qat=False, **compression)
    )
    variants = compress.build_variants(config, "run", "trained", log=lambda *_: None)
    return {v.name: v.backbone for v in variants}, calls


def test_2_4_joins_the_unstructured_sparsities_as_its_own_variant(monkeypatch):
    variants, calls = _variants(monkeypatch, pruning_sparsities=(0.5, 0.8), structured_2_4=True)
    assert list(variants) == [
        "float32",
        "float16",
        "dynamic_int8",
        "full_int8",
        "pruned50_int8",
        "pruned80_int8",
        "pruned2of4_int8",
    ]
    assert calls == [(0.5, None), (0.8, None), (0.5, (2, 4))]
    assert variants["pruned2of4_int8"] == "pruned 0.5 (2, 4)"
    _, calls = _variants(monkeypatch, pruning_sparsities=(0.5,), structured_2_4=False)
    assert calls == [(0.5, None)]


def test_each_pruning_fine_tunes_in_its_own_directory():
    # Unstructured 50 % and 2:4 must not resume each other's backups.
    assert compress.pruning_label(0.5) == "50"
    assert compress.pruning_label(0.8) == "80"
    assert compress.pruning_label(0.5, (2, 4)) == "2of4"


def test_m_by_n_refuses_a_sparsity_it_cannot_have(tmp_path):
    with pytest.raises(ValueError, match="2:4 structured sparsity is 50%; got sparsity=0.8"):
        prune_and_finetune(smoke_config(), None, 0.8, str(tmp_path), m_by_n=(2, 4))
