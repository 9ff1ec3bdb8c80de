"""Human-translated sentence pairs from compiled gettext message catalogs, as a TFDS builder.

Debian packages ship their translations as `/usr/share/locale/<lang>/LC_MESSAGES/<domain>.mo`:
each maps an English message (msgid) to its translation (msgstr), written by people. The
builder reads a pinned list of domains and splits *by catalog*, so the validation and test
sentences come from packages the training never saw. Within a split, a message that occurs in
several catalogs is kept once; validation and test drop messages whose English text occurs in
training (they would test recall, not translation). Every count is in the builder's metadata.
"""

import dataclasses
import gettext
import hashlib
import json
import os
import re

import tensorflow_datasets as tfds

_SPACE = re.compile(r"\s+")


class CatalogError(ValueError):
    """A catalog that is missing or cannot be read."""


def normalize(message):
    """One line: whitespace runs (newlines, tabs) become one space; ends are stripped."""
    return _SPACE.sub(" ", message).strip()


def read_catalog(path):
    """The (English, translation) pairs of one `.mo` file, normalized, in file order.

    Skipped: the header (empty msgid), plural entries (msgid tuples: their forms depend on a
    count) and untranslated entries (empty msgstr). A context-qualified msgid
    ("context\x04message") contributes its message.
    """
    if not os.path.isfile(path):
        raise CatalogError(f"{path}: no such catalog (is the package installed?)")
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(f"{path}: not a readable .mo catalog ({error})") from None
    pairs = []
    for msgid, msgstr in catalog.items():
        if not isinstance(msgid, str) or not msgid or not msgstr:
            continue
        source, target = normalize(msgid.split("\x04")[-1]), normalize(msgstr)
        if source and target:
            pairs.append((source, target))
    return pairs


@dataclasses.dataclass(eq=False)
class CatalogPairsConfig(tfds.core.BuilderConfig):
    """Pinned catalogs of one language and the split they go to."""

    locale_dir: str = "/usr/share/locale"
    language: str = "es"
    train_catalogs: tuple = ()
    validation_catalogs: tuple = ()
    test_catalogs: tuple = ()
    max_words: int = 0

    @classmethod
    def create(cls, **parameters):
        config = cls(name="pending", **parameters)
        digest = hashlib.sha1(
            json.dumps(
                [
                    os.path.abspath(config.locale_dir),
                    list(config.train_catalogs),
                    list(config.validation_catalogs),
                    list(config.test_catalogs),
                ]
            ).encode()
        ).hexdigest()[:8]
        name = f"en_{config.language}_max{config.max_words}_{digest}"
        return cls(name=name, description="gettext catalog pairs", **parameters)


class CatalogPairs(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of English → `language` message pairs from gettext catalogs."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIG_CLASS = CatalogPairsConfig

    def _info(self):
        c = self.builder_config
        return self.dataset_info_from_configs(
            description=f"English → {c.language} messages of pinned gettext catalogs.",
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(doc="English message (msgid)"),
                    "translation": tfds.features.Text(doc=f"{c.language} translation (msgstr)"),
                    "catalog": tfds.features.Text(doc="text domain (.mo file name)"),
                }
            ),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files
        c = self.builder_config
        catalogs = {
            "train": c.train_catalogs,
            "validation": c.validation_catalogs,
            "test": c.test_catalogs,
        }
        seen_in = {}
        for split, names in catalogs.items():
            for name in names:
                if name in seen_in:
                    raise CatalogError(f"catalog {name!r} is in both {seen_in[name]} and {split}")
                seen_in[name] = split
        directory = os.path.join(c.locale_dir, c.language, "LC_MESSAGES")
        counts, examples, train_sources = {}, {}, set()
        for split, names in catalogs.items():
            kept, count = [], {"read": 0, "too_long": 0, "duplicate": 0, "in_train": 0}
            sources = set()
            for name in names:
                for source, target in read_catalog(os.path.join(directory, name + ".mo")):
                    count["read"] += 1
                    words = max(len(source.split()), len(target.split()))
                    if c.max_words and words > c.max_words:
                        count["too_long"] += 1
                    elif source in sources:
                        count["duplicate"] += 1
                    elif split != "train" and source in train_sources:
                        count["in_train"] += 1
                    else:
                        sources.add(source)
                        kept.append((name, source, target))
            if split == "train":
                train_sources = sources
            count["kept"] = len(kept)
            counts[split], examples[split] = count, kept
        self.info.metadata["counts"] = counts
        self.info.metadata["catalogs"] = {s: list(n) for s, n in catalogs.items()}
        return {split: self._generate_examples(kept) for split, kept in examples.items() if kept}

    def _generate_examples(self, kept):
        for i, (catalog, source, target) in enumerate(kept):
            yield i, {"text": source, "translation": target, "catalog": catalog}
