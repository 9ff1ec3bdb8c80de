"""English → Spanish translation of real software messages: the human translations in Debian's
gettext catalogs (/usr/share/locale/es/LC_MESSAGES/*.mo), split by package so that the test
messages come from packages the model never saw. A text-only encoder-decoder with its own
WordPiece vocabulary (English and Spanish), trained from scratch.

    mmlm data generate --config configs/catalog_translation.py   # prints the pair counts
    mmlm finetune --config configs/catalog_translation.py --workdir runs/catalog_translation
    mmlm evaluate --config configs/catalog_translation.py --workdir runs/catalog_translation \
        --json runs/catalog_translation/metrics.json

The catalog list is pinned below (the pairs depend on which packages are installed: `mmlm data
generate` records the counts). The iso_* catalogs (country, language and currency names) are left
out: they are name lists, not messages. Pairs with more than 16 words on either side are left out
(counted) so that no training target is truncated at 48 tokens.
"""

import dataclasses

from mmlm.config import (
    CatalogConfig,
    DataConfig,
    DataSource,
    ExperimentConfig,
    Modality,
    ModelConfig,
    Precision,
    RuntimeConfig,
    TaskConfig,
    TaskKind,
    TextConfig,
    TrainerConfig,
    smoke_variant,
)

TEST = ("grep", "make", "psmisc", "sed", "tar", "wget", "wget-gnulib", "xz")
VALIDATION = ("adduser", "diffutils", "findutils", "procps-ng")
TRAIN = (
    "Linux-PAM", "PackageKit", "appstream", "apt", "at-spi2-core", "avahi", "bash", "bfd",
    "binutils", "coreutils", "dpkg", "dpkg-dev", "elfutils", "gas", "gawk", "gdk-pixbuf",
    "gettext-runtime", "gettext-tools", "git", "glib20", "gnupg2", "gnutls30", "gold", "gprof",
    "gsettings-desktop-schemas", "gstreamer-1.0", "gtk20", "gtk20-properties", "initdb-15", "ld",
    "libapt-pkg6.0", "libc", "libidn2", "libpq5-15", "man-db", "man-db-gnulib", "opcodes",
    "pg_amcheck-15", "pg_archivecleanup-15", "pg_basebackup-15", "pg_checksums-15",
    "pg_config-15", "pg_controldata-15", "pg_ctl-15", "pg_dump-15", "pg_resetwal-15",
    "pg_rewind-15", "pg_test_fsync-15", "pg_test_timing-15", "pg_upgrade-15",
    "pg_verifybackup-15", "pg_waldump-15", "pgscripts-15", "plpgsql-15", "postgres-15",
    "psql-15", "python-apt", "shadow", "shared-mime-info", "software-properties", "systemd",
    "xdg-user-dirs", "xkeyboard-config",
)  # fmt: skip

TASK = TaskConfig(
    kind=TaskKind.GENERATION, conditioning=(), source_text="text", target_text="text_es"
)


def get_config(smoke=False):
    data = DataConfig(
        source=DataSource.CATALOGS,
        catalogs=CatalogConfig(
            language="es",
            train_catalogs=TRAIN,
            validation_catalogs=VALIDATION,
            test_catalogs=TEST,
            max_words=16,
        ),
        modalities=(Modality.TEXT,),
        global_batch_size=64,
        shuffle_buffer=50000,
        text=TextConfig(vocabulary_size=8000, sequence_length=48, lowercase=False),
    )
    config = ExperimentConfig(
        name="catalog_translation",
        data=data,
        model=ModelConfig(dropout=0.1),
        task=TASK,
        trainer=TrainerConfig(
            steps=3000, learning_rate=1e-3, warmup_steps=200, eval_every=1000, checkpoint_every=500
        ),
        runtime=RuntimeConfig(precision=Precision.MIXED_BFLOAT16),
    )
    if not smoke:
        return config
    return smoke_variant(
        config,
        steps=3,
        eval_every=3,
        global_batch_size=8,
        shuffle_buffer=64,
        task=dataclasses.replace(TASK, eval_examples=16),
    )
