"""`with_fields`: a layer's config from the names of its constructor arguments."""


def with_fields(config, layer, fields):
    """`config` (the base class's `get_config()`) plus each attribute of `layer` in `fields`.

    A layer keeps each constructor argument under the argument's name (STYLE.md §3), so its
    `get_config` only names them:

        def get_config(self):
            return with_fields(super().get_config(), self, ("patch_size", "hidden_dim"))
    """
    config.update({field: getattr(layer, field) for field in fields})
    return config
