"""Rebuilding a `MultimodalBackbone` around replaced layers (pruning wrappers), or copying it.

`keras.models.clone_model` turns an encoder (a functional subclass) into a plain functional
model and knows nothing of the towers' second graph, `masked_encoder`, which shares the
encoder's layers. `clone_backbone` clones every tower's graphs with one memoized layer map, so
both graphs of a tower call the same replacement layers, keeps the attributes the pretraining
task reads (`masked_encoder`, `patch_size`, `vocabulary_size`, ...), and assembles a real
`MultimodalBackbone` (so `PretrainingTask` and `embedding_model` work on the result).
"""

from mmlm.backend import keras

# Layer-valued attributes of towers that code outside the graph reads (decoding, FLOPs).
_LAYER_ATTRIBUTES = (
    "frontend",
    "token_embedding",
    "position_embedding",
    "blocks",
    "final_norm",
    "lm_head",
)
_PARTS = ("fusion_encoder", "text_decoder")
_FUNCTIONAL = keras.src.engine.functional.Functional  # what `keras.Model(inputs, outputs)` is


def memoized_cloner(clone_layer):
    """`layer -> layer` for `clone_model`'s `clone_function`, cloning nested towers with itself.

    Each distinct layer is replaced once, so the two graphs of a tower (plain and
    `masked_encoder`) call the same replacement. Nested functional models (towers) are cloned
    with `_clone_tower` through the same map instead of being passed to `clone_layer`.

    Args:
        clone_layer: `layer -> layer` for every non-model layer (return the layer itself to
            share it).
    """
    memo = {}

    def clone(layer):
        if id(layer) not in memo:
            if isinstance(layer, keras.Model) and getattr(layer, "_is_graph_network", False):
                replacement = _clone_tower(layer, clone)
            else:
                replacement = clone_layer(layer)
            memo[id(layer)] = (layer, replacement)  # keeps `layer` alive: ids stay unique
        return memo[id(layer)][1]

    return clone


def clone_backbone(backbone, clone_layer):
    """A `MultimodalBackbone` like `backbone` in which every layer is `clone_layer(layer)`.

    Args:
        backbone: a `MultimodalBackbone`.
        clone_layer: `layer -> layer`, called once per distinct layer of the encoders, the
            fusion encoder, the decoder and the projection heads (return the layer itself to
            share it); see `memoized_cloner`.
    Returns:
        A new `MultimodalBackbone` whose towers are plain functional models with the original
        towers' attributes (and, for the image and audio towers, their `masked_encoder`).
    """
    clone = memoized_cloner(clone_layer)
    towers = {f"{m}_encoder": clone(e) for m, e in backbone.encoders.items()}
    for key in _PARTS:
        part = getattr(backbone, key)
        towers[key] = None if part is None else clone(part)
    heads = {m: clone(head) for m, head in backbone.projection_heads.items()}
    return type(backbone)(
        **towers,
        embedding_dim=backbone.embedding_dim,
        projection_heads=heads,
        name=backbone.name,
    )


def _clone_tower(model, clone):
    """Clones a functional tower (and its `masked_encoder`) through `clone`, with its attributes."""
    copy = keras.models.clone_model(model, clone_function=clone)
    masked = getattr(model, "masked_encoder", None)
    if masked is not None:
        copy.masked_encoder = clone(masked)
    if type(model) is _FUNCTIONAL:
        return copy  # a plain functional model: no constructor attributes
    for key, value in model.get_config().items():
        if key not in ("name", "trainable"):
            setattr(copy, key, value)
    if hasattr(model, "num_patches"):
        copy.num_patches = model.num_patches
    for key in _LAYER_ATTRIBUTES:
        value = getattr(model, key, None)
        if isinstance(value, keras.layers.Layer):
            setattr(copy, key, clone(value))
        elif isinstance(value, (list, tuple)):
            setattr(copy, key, [clone(layer) for layer in value])
    return copy


def copy_backbone(backbone):
    """An independent copy of `backbone`: same class and structure, its own (equal) weights."""
    copy = type(backbone).from_config(backbone.get_config())
    copy.set_weights(backbone.get_weights())
    return copy


def unique_layers(model):
    """Every layer of `model` and of its nested models, each once (shared layers included)."""
    seen = set()
    for layer in model._flatten_layers(include_self=False):  # noqa: SLF001  (Keras's own walk)
        if id(layer) not in seen:
            seen.add(id(layer))
            yield layer
