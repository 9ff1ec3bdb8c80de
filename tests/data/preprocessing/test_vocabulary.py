"""Vocabulary sizing from the data (`data.text.vocabulary_size=0`)."""

from mmlm.backend import tf
from mmlm.data.preprocessing.vocabulary import AUTO_VOCABULARY_BOUNDS, auto_vocabulary_size


def test_auto_size_counts_words_seen_twice_within_bounds():
    texts = ["Red apple", "red APPLE pie", "green pear"]  # red, apple twice (lowercased)
    assert auto_vocabulary_size(texts) == (AUTO_VOCABULARY_BOUNDS[0], 2)
    many = [f"word{i} word{i}" for i in range(1000)]
    assert auto_vocabulary_size(many) == (1300, 1000)  # 1000 + 300 pieces, rounded to 100
    huge = [f"w{i} w{i}" for i in range(20000)]
    assert auto_vocabulary_size(tf.data.Dataset.from_tensor_slices(huge))[0] == 16000
    assert auto_vocabulary_size(texts, lowercase=False) == (AUTO_VOCABULARY_BOUNDS[0], 0)
