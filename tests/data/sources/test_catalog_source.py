"""gettext catalogs: pairs read like Python's gettext, split by catalog, filtered and counted."""

import os

import pytest

from mmlm.data.sources.catalog_builder import CatalogError, read_catalog
from mmlm.data.sources.catalog_source import CatalogSource
from mmlm.testing.data import write_mo_file


def _locale(tmp_path):
    directory = tmp_path / "locale" / "es" / "LC_MESSAGES"
    write_mo_file(str(directory / "alpha.mo"), {
        "File not found": "Archivo no encontrado",
        "cannot open %s:\n  %s": "no se puede abrir %s:\n  %s",
        "Untranslated": "",
        "one two three four five six seven": "uno dos tres cuatro cinco seis siete",
        "menu\x04Open": "Abrir",
    })  # fmt: skip
    write_mo_file(str(directory / "beta.mo"), {"File not found": "Fichero no encontrado",
                                                "Save as": "Guardar como"})  # fmt: skip
    write_mo_file(str(directory / "gamma.mo"), {"File not found": "No se encontró",
                                                 "Quit": "Salir", "Print": "Imprimir"})  # fmt: skip
    return str(tmp_path / "locale")


def test_read_catalog_normalizes_and_skips_what_is_not_a_pair(tmp_path):
    pairs = read_catalog(os.path.join(_locale(tmp_path), "es", "LC_MESSAGES", "alpha.mo"))
    assert ("cannot open %s: %s", "no se puede abrir %s: %s") in pairs
    assert ("Open", "Abrir") in pairs  # the context prefix is dropped
    assert all(source != "Untranslated" and source for source, _ in pairs)
    with pytest.raises(CatalogError, match="missing.mo: no such catalog"):
        read_catalog(str(tmp_path / "missing.mo"))
    broken = tmp_path / "broken.mo"
    broken.write_bytes(b"\x00" * 40)
    with pytest.raises(CatalogError, match="broken.mo: not a readable .mo catalog"):
        read_catalog(str(broken))


def test_catalog_source_splits_by_catalog(tmp_path):
    source = CatalogSource(str(tmp_path / "data"), locale_dir=_locale(tmp_path), language="es",
                           train_catalogs=["alpha"], validation_catalogs=["beta"],
                           test_catalogs=["gamma"], max_words=6)  # fmt: skip
    source.prepare()
    rows = {s: list(source.load(s).as_numpy_iterator()) for s in ("train", "validation", "test")}
    pairs = {s: {(r["text"].decode(), r["text_es"].decode()) for r in v} for s, v in rows.items()}
    assert pairs["train"] == {("File not found", "Archivo no encontrado"),
                              ("cannot open %s: %s", "no se puede abrir %s: %s"),
                              ("Open", "Abrir")}  # fmt: skip
    # "File not found" is a training message: validation and test leave it out.
    assert pairs["validation"] == {("Save as", "Guardar como")}
    assert pairs["test"] == {("Quit", "Salir"), ("Print", "Imprimir")}
    assert {r["catalog"].decode() for r in rows["test"]} == {"gamma"}
    assert not rows["test"][0]["image_present"] and source.text_features == ("text", "text_es")
    counts = source.counts()
    assert counts["train"] == {"read": 4, "too_long": 1, "duplicate": 0, "in_train": 0,
                               "kept": 3}  # fmt: skip
    assert counts["test"]["in_train"] == 1 and counts["test"]["kept"] == 2
    with pytest.raises(CatalogError, match="'alpha' is in both train and test"):
        CatalogSource(str(tmp_path / "data2"), locale_dir=_locale(tmp_path), language="es",
                      train_catalogs=["alpha"], validation_catalogs=[],
                      test_catalogs=["alpha"]).prepare()  # fmt: skip
