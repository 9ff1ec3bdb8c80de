"""`BackboneTask`: a `Task` built around a `MultimodalBackbone` it serializes."""

from mmlm.backend import keras
from mmlm.training.task import Task


class BackboneTask(Task):
    """Base of the tasks that train a backbone: `get_config` carries it, `from_config`
    rebuilds it. Subclasses set `self.backbone` and add their own arguments to the config."""

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
