"""The masked language model of the manual pages (`configs/manpages_lm.py` explains both).

mmlm pretrain --config configs/manpages_masked_lm.py --workdir runs/manpages_masked_lm
"""

import os

from mmlm.config import load_config_module


def get_config(smoke=False):
    lm = load_config_module(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "manpages_lm.py")
    )
    return lm.get_config(smoke, objective="masked")
