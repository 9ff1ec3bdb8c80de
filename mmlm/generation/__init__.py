"""Text generation with the decoder: greedy decoding (sampling and beam search: issue 5)."""

from mmlm.generation.greedy import greedy_decode
from mmlm.generation.captioner import GreedyCaptioner
