"""The causal language model of the manual pages (`configs/manpages_lm.py` explains both).

mmlm pretrain --config configs/manpages_causal_lm.py --workdir runs/manpages_causal_lm
"""

from mmlm.config import sibling_config


def get_config(smoke=False):
    lm = sibling_config(__file__, "manpages_lm.py")
    return lm.get_config(smoke, objective="causal")
