"""Size presets of the multimodal model.

`tiny` trains in minutes on 2 CPU cores (the demo); `base` is a realistic small model.
"""

PRESETS = {
    "tiny": {
        "hidden_dim": 128,
        "num_layers": 2,
        "num_heads": 4,
        "intermediate_dim": 256,
        "fusion_layers": 1,
        "decoder_layers": 2,
    },
    "base": {
        "hidden_dim": 320,
        "num_layers": 4,
        "num_heads": 5,
        "intermediate_dim": 1280,
        "fusion_layers": 2,
        "decoder_layers": 4,
    },
}
