"""Data section: where examples come from and how each modality is preprocessed."""

import dataclasses
import enum

# Input limits (docs/manifest.md, "Limits"): the defaults of the fields below, also read by
# readers and exports built without a config. Beyond them an input is refused, not decoded.
DEFAULT_MAX_PIXELS = 40_000_000  # 40 Mpx: 120 MB as RGB; a 12000x12000 bomb has 144 M
DEFAULT_MAX_AUDIO_SECONDS = 600.0  # 10 minutes; the model reads `duration_seconds` of it
DEFAULT_MAX_TEXT_BYTES = 1_000_000  # 1 MB of UTF-8; the model reads `sequence_length` tokens


class DataSource(enum.Enum):
    """Where examples come from."""

    SCENES = "scenes"  # the embedded, generated scenes data set (a TFDS builder)
    MANIFEST = "manifest"  # the user's own files listed in a JSONL/CSV manifest
    TFDS = "tfds"  # any TFDS data set by name (e.g. coco_captions), prepared in data_dir
    IDX = "idx"  # a local folder of IDX image classification files (Fashion-MNIST, MNIST)
    CATALOGS = "catalogs"  # human-translated messages of gettext catalogs (/usr/share/locale)
    MANPAGES = "manpages"  # manual pages of Debian packages (/usr/share/man)


class Modality(enum.Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"


@dataclasses.dataclass(frozen=True)
class ScenesConfig:
    """The generated scenes data set (see DATA.md): image, caption, speech, Spanish, structure.

    Attributes:
        num_train: examples in the train split.
        num_validation: examples in the validation split.
        num_test: examples in the test split.
        seed: generator seed; the same seed gives byte-identical data.
        heldout_combos: "colour shape" pairs that never occur in train/validation.
        heldout_fraction: share of test examples containing at least one held-out pair.
        speech_languages: spoken caption languages ("en", "es").
        version: generator version. 1: the original scenes (captions repeat: of the default
            500 test captions 360 are distinct). 2: every object also has a size and every
            scene a background colour, no caption repeats within a split and none occurs in two
            splits; its speech lasts up to 8 s, so set `data.audio.duration_seconds=8` with it.
            Its one-object captions limit a split (an error names it): with the default held-out
            pairs about 5,100 train, 650 validation and 650 seen test scenes.
    """

    num_train: int = 2000
    num_validation: int = 250
    num_test: int = 500
    seed: int = 0
    heldout_combos: tuple[str, ...] = (
        "red triangle",
        "green circle",
        "blue rectangle",
        "yellow digit",
    )
    heldout_fraction: float = 0.5
    speech_languages: tuple[str, ...] = ("en", "es")
    version: int = 1


@dataclasses.dataclass(frozen=True)
class ManifestConfig:
    """A JSONL/CSV manifest of the user's own files (format: docs/manifest.md).

    Attributes:
        path: the manifest file; relative paths inside it resolve against its folder.
        validation_fraction: when the manifest has no validation rows, this share of its train
            rows (chosen with `data.seed`) becomes the validation split; the ingestion report
            counts them. 0: no validation split is made.
    """

    path: str = ""
    validation_fraction: float = 0.0


@dataclasses.dataclass(frozen=True)
class TFDSConfig:
    """A public TFDS data set, read through the same pipeline.

    Attributes:
        name: TFDS name, e.g. "coco_captions" (must already be prepared in `data.data_dir`).
        text_feature: "/"-separated path of the text feature, e.g. "captions/text" ("" = none).
        image_feature: path of the image feature ("" = none).
        audio_feature: path of the audio feature ("" = none).
        label_feature: path of a class label feature ("" = none).
        train_split: TFDS split used for training.
        validation_split: TFDS split used for validation.
        test_split: TFDS split used for testing.
    """

    name: str = ""
    text_feature: str = ""
    image_feature: str = ""
    audio_feature: str = ""
    label_feature: str = ""
    train_split: str = "train"
    validation_split: str = "validation"
    test_split: str = "test"


@dataclasses.dataclass(frozen=True)
class IdxConfig:
    """A local folder of IDX image classification files (`train-images-idx3-ubyte.gz`, ...).

    Attributes:
        directory: the folder (Debian's `dataset-fashion-mnist` installs Fashion-MNIST in the
            default one).
        class_names: names of the label ids, in order (Fashion-MNIST's by default).
        validation_size: last training examples kept as the validation split.
    """

    directory: str = "/usr/share/datasets/fashion-mnist"
    class_names: tuple[str, ...] = (
        "t-shirt/top",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    )
    validation_size: int = 5000


@dataclasses.dataclass(frozen=True)
class CatalogConfig:
    """English → `language` message pairs of installed gettext catalogs, split by catalog.

    Attributes:
        locale_dir: root of `<language>/LC_MESSAGES/<catalog>.mo`.
        language: target language; its texts are the `text_<language>` feature.
        train_catalogs: text domains (file names without `.mo`) of the train split.
        validation_catalogs: text domains of the validation split.
        test_catalogs: text domains of the test split (packages never seen in training).
        max_words: leave out pairs whose longer side has more words (0 = keep all).
    """

    locale_dir: str = "/usr/share/locale"
    language: str = "es"
    train_catalogs: tuple[str, ...] = ()
    validation_catalogs: tuple[str, ...] = ()
    test_catalogs: tuple[str, ...] = ()
    max_words: int = 0


class ManPagesUnit(enum.Enum):
    """What one example of the manual pages source is."""

    PARAGRAPHS = "paragraphs"  # a prose paragraph (piece) of any page: language modelling
    PAGES = "pages"  # a page: DESCRIPTION start, NAME summary, section (summarize, classify)


@dataclasses.dataclass(frozen=True)
class ManPagesConfig:
    """Manual pages (roff, `man` macros) of pinned Debian packages, split by page.

    Attributes:
        man_dir: root of the `man<section>/` folders.
        packages: Debian packages whose pages are read (`dpkg-query -L`; their versions are
            recorded); empty: every page under `man_dir` of `sections`.
        sections: manual sections kept, in the order of the `section` label's classes.
        unit: paragraphs (prose pieces, for language models) or pages (description, summary,
            section).
        max_words: paragraphs are cut into pieces of at most this many words; a page's
            description is cut to it.
        min_words: paragraph pieces with fewer words are left out (counted).
        validation_percent: share of pages (by a hash of their name) in the validation split.
        test_percent: share of pages in the test split.
    """

    man_dir: str = "/usr/share/man"
    packages: tuple[str, ...] = ("manpages", "manpages-dev")
    sections: tuple[str, ...] = ("2", "3", "4", "5", "7")
    unit: ManPagesUnit = ManPagesUnit.PARAGRAPHS
    max_words: int = 48
    min_words: int = 4
    validation_percent: int = 10
    test_percent: int = 20


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Text preprocessing.

    Attributes:
        vocabulary_size: WordPiece vocabulary size trained from the training captions; 0
            sizes it to the data (a token per word seen twice, plus pieces; 500 to 16,000).
        sequence_length: packed length including start and end tokens.
        lowercase: lowercase before tokenizing.
        extra_text_features: further text features (e.g. "text_es") that share the vocabulary
            and are tokenized alongside "text".
        max_bytes: a manifest caption longer than this many UTF-8 bytes is an invalid row
            (`text_too_long`), and the exported SavedModel's text signatures refuse such rows.
            Shorter text past `sequence_length - 2` tokens is truncated, and the ingestion
            report counts it.
    """

    vocabulary_size: int = 1000
    sequence_length: int = 40
    lowercase: bool = True
    extra_text_features: tuple[str, ...] = ("text_es",)
    max_bytes: int = DEFAULT_MAX_TEXT_BYTES


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """Image preprocessing.

    Attributes:
        image_size: square side length images are resized to.
        augment: apply the training augmentations below (never at evaluation).
        random_translation: max shift as a fraction of the side (0 disables).
        random_contrast: contrast jitter factor (0 disables).
        random_flip: horizontal flips; off by default because scene captions name left/right.
        max_pixels: an image with more pixels (width x height, read from its header) is
            refused before it is decoded (`image_too_large`): in manifest ingestion, the
            command line's image files and the exported SavedModel's `embed_image_bytes`.
    """

    image_size: int = 64
    augment: bool = True
    random_translation: float = 0.05
    random_contrast: float = 0.1
    random_flip: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    """Audio preprocessing (log-mel parameters follow librosa's names in brackets).

    Attributes:
        sample_rate: waveform rate everything is resampled to.
        duration_seconds: waveforms are cropped/padded to this length, with a mask.
        fft_length: FFT size [n_fft].
        frame_length: window length [win_length].
        frame_step: hop between frames [hop_length].
        num_mel_bins: mel bands [n_mels].
        max_seconds: an audio file longer than this (read from its header) is refused before
            it is decoded (`audio_too_long`): in manifest ingestion, the command line's audio
            files and the exported SavedModel's `embed_audio_wav`.
    """

    sample_rate: int = 16000
    duration_seconds: float = 8.0
    fft_length: int = 400
    frame_length: int = 400
    frame_step: int = 160
    num_mel_bins: int = 80
    max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS

    def log_mel_arguments(self):
        """`LogMelSpectrogram` arguments (shared by the data pipeline and the models)."""
        return {
            "sample_rate": self.sample_rate,
            "fft_length": self.fft_length,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "num_mel_bins": self.num_mel_bins,
        }


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Data section.

    Attributes:
        source: which source to read (`DataSource`).
        data_dir: where prepared data sets and vocabularies live.
        scenes: settings of the scenes source.
        manifest: settings of the manifest source.
        tfds: settings of the TFDS-by-name source.
        idx: settings of the IDX-files source.
        catalogs: settings of the gettext-catalogs source.
        manpages: settings of the manual pages source.
        modalities: modalities fed to the model; others are dropped early.
        global_batch_size: batch size summed over all replicas.
        shuffle_buffer: shuffle buffer size (training only).
        cache_examples: training only: keep the decoded examples in memory after the first
            pass, so later epochs skip reading and decoding the files. Needs the split's decoded
            size in RAM (per input pipeline, its shard): about 0.3 MB per scene (0.6 GB for the
            demo's 2,000).
        seed: seed for shuffling, augmentation and masking.
        skip_invalid: skip (and count and report) invalid records instead of failing.
        shuffle_pairs: the control run: pair each training caption with another example's
            image and audio (a fixed random permutation), so nothing true links them; test
            retrieval must then score at chance.
        bootstrap_seed: bagging: when >= 0, training reads a bootstrap resample of the train
            split drawn with this seed (each example k ~ Poisson(1) times, the same k every
            epoch; see `mmlm.data.bootstrap`). -1: the split as it is.
        text: text preprocessing.
        image: image preprocessing.
        audio: audio preprocessing.
    """

    source: DataSource = DataSource.SCENES
    data_dir: str = "data"
    scenes: ScenesConfig = ScenesConfig()
    manifest: ManifestConfig = ManifestConfig()
    tfds: TFDSConfig = TFDSConfig()
    idx: IdxConfig = IdxConfig()
    catalogs: CatalogConfig = CatalogConfig()
    manpages: ManPagesConfig = ManPagesConfig()
    modalities: tuple[Modality, ...] = (Modality.TEXT, Modality.IMAGE, Modality.AUDIO)
    global_batch_size: int = 32
    shuffle_buffer: int = 2048
    cache_examples: bool = False
    seed: int = 0
    skip_invalid: bool = False
    shuffle_pairs: bool = False
    bootstrap_seed: int = -1
    text: TextConfig = TextConfig()
    image: ImageConfig = ImageConfig()
    audio: AudioConfig = AudioConfig()
