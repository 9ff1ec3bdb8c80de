"""`BackboneTask`: a `Task` built around a `MultimodalBackbone` it serializes."""

import os

from mmlm import atomic_files, preset_files
from mmlm.backend import keras
from mmlm.models.multimodal_backbone import MultimodalBackbone
from mmlm.training.task import Task


class BackboneTask(Task):
    """Base of the tasks that train a backbone: `get_config` carries it, `from_config`
    rebuilds it, and `save_to_preset` / `from_preset` write and read it with a preset.
    Subclasses set `self.backbone` and add their own arguments to the config."""

    def get_config(self):
        config = super().get_config()
        config["backbone"] = keras.saving.serialize_keras_object(self.backbone)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    def build_head(self):
        """Creates the variables this task adds to the backbone (none by default)."""

    def save_to_preset(self, preset):
        """Writes the backbone, this task's arguments (`task.json`) and all its weights
        (`task.weights.h5`, backbone included) into the preset directory `preset`."""
        self.backbone.save_to_preset(preset)
        config = self.get_config()
        config.pop("backbone")
        name = keras.saving.get_registered_name(type(self))
        preset_files.write_json(
            os.path.join(preset, preset_files.TASK), {"class_name": name, "config": config}
        )
        self.build_head()
        with atomic_files.replaced_file(os.path.join(preset, preset_files.TASK_WEIGHTS)) as path:
            self.save_weights(path)
        preset_files.update_metadata(preset, task=name)
        return preset

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A task of this class around the backbone of the preset directory `preset`.

        Without `kwargs`, the preset must hold a task of this class (`save_to_preset`): it is
        restored with its trained head. With `kwargs` (the class's arguments but `backbone`),
        a new task is built around the preset's pretrained backbone (a fresh head, e.g. for
        other classes).

        Example:
        >>> task = ClassificationTask.from_preset(
        ...     "saved_models/my_preset", modality="image", num_classes=8, label_feature="label"
        ... )
        """
        metadata = preset_files.check(preset, [preset_files.BACKBONE])
        name = keras.saving.get_registered_name(cls)
        if kwargs:
            return cls(backbone=MultimodalBackbone.from_preset(preset), **kwargs)
        if metadata.get("task") != name:
            raise preset_files.PresetError(
                f"preset {preset} holds {metadata.get('task') or 'no task'}, not a {name}: pass "
                f"the {cls.__name__} arguments to build a new one around its backbone"
            )
        preset_files.check(preset, [preset_files.TASK, preset_files.TASK_WEIGHTS])
        saved = preset_files.read_json(os.path.join(preset, preset_files.TASK), preset)
        task = cls(backbone=MultimodalBackbone.from_preset(preset), **saved["config"])
        task.build_head()
        task.load_weights(os.path.join(preset, preset_files.TASK_WEIGHTS))
        return task
