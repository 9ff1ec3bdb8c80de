"""Text generation with the decoder: a key/value-cached decoder, keras-nlp samplers (greedy,
temperature, top-k, top-p), beam search, and a fixed-buffer greedy loop for TFLite."""

from mmlm.generation.beam_search import beam_search, length_penalty_factor
from mmlm.generation.cached_decoder import CachedDecoder
from mmlm.generation.generator import STRATEGIES, Generator, conditioning_inputs
from mmlm.generation.greedy import greedy_decode
from mmlm.generation.captioner import GreedyCaptioner, StepCaptioner
