"""mmlm: a tf_keras framework for multimodal language models (text, images, audio)."""

from mmlm import backend  # noqa: F401  (selects tf_keras before anything else imports Keras)

__version__ = "0.1.0"
