from mmlm.backend import tf
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor
from mmlm.testing import TestCase

CORPUS = [
    "a red circle in the top left corner",
    "a blue digit seven in the bottom right corner",
    "un círculo rojo en la esquina izquierda superior",
    "un dígito azul siete en la esquina derecha inferior",
] * 20


class TextPreprocessorTest(TestCase):
    def setUp(self):
        super().setUp()
        self.vocabulary = vocab_lib.train_vocabulary(CORPUS, vocabulary_size=200)

    def test_vocabulary_reserves_special_tokens_and_keeps_accents(self):
        self.assertEqual(self.vocabulary[:5], list(vocab_lib.RESERVED_TOKENS))
        self.assertIn("círculo", self.vocabulary)
        self.assertIn("dígito", self.vocabulary)

    def test_vocabulary_file_round_trip(self):
        path = vocab_lib.save_vocabulary(self.vocabulary, self.get_temp_dir() + "/v/vocab.txt")
        self.assertEqual(vocab_lib.load_vocabulary(path), self.vocabulary)
        with self.assertRaisesRegex(FileNotFoundError, "mmlm data generate"):
            vocab_lib.load_vocabulary(self.get_temp_dir() + "/missing.txt")

    def test_preprocessing_layer(self):
        layer = TextPreprocessor(self.vocabulary, sequence_length=12)
        texts = tf.constant(["a red circle", "un círculo rojo en la esquina", "wxk"])
        out = self.run_preprocessing_layer_test(layer, texts)
        ids, mask = out["token_ids"].numpy(), out["padding_mask"].numpy()
        self.assertEqual(ids.shape, (3, 12))
        start, end, pad = (layer.token_id(t) for t in ("[START]", "[END]", "[PAD]"))
        # "a red circle" → [START] a red circle [END] [PAD]...
        expected = [start] + [self.vocabulary.index(w) for w in ("a", "red", "circle")] + [end]
        self.assertEqual(list(ids[0, :5]), expected)
        self.assertTrue((ids[0, 5:] == pad).all())
        self.assertEqual(list(mask[0]), [True] * 5 + [False] * 7)
        self.assertIn(layer.token_id("[UNK]"), ids[2])  # unseen word

    def test_detokenize_round_trip_and_truncation(self):
        layer = TextPreprocessor(self.vocabulary, sequence_length=8)
        out = layer(tf.constant(["un círculo rojo", CORPUS[1]]))
        text = [t.decode() for t in layer.detokenize(out["token_ids"]).numpy()]
        self.assertEqual(text[0], "un círculo rojo")
        self.assertEqual(text[1], "a blue digit seven in the")  # 8 - start - end = 6 tokens
        self.assertEqual(out["token_ids"][1, -1], layer.token_id("[END]"))
