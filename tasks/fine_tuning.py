"""ULMFiT's fine-tuning schedule (Howard & Ruder 2018, section 3.2 and 3.3), for any Keras model
whose layers go from the input up:

    SlantedTriangular(max_learning_rate, total_steps)   the learning rate rises for the first
                                                        10 % of the steps, then falls to 1/32
    LayerwiseAdam(learning_rate, groups, layer_lr_decay, unfreeze_every)
                                                        Adam with a learning rate per layer
                                                        group, lower further down
                                                        (discriminative fine-tuning), and the
                                                        groups unfrozen from the top one
                                                        at a time (gradual unfreezing)

A model names its groups bottom to top by layer path (`TextClassifier.layer_groups()`:
["embedding", "rnn/bidirectional_0", ...]); the variables of no group (the classifier on top)
form the top group.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasrnn")
class SlantedTriangular(keras.optimizers.schedules.LearningRateSchedule):
    """The slanted triangular learning rate (ULMFiT, equation 3): with T = `total_steps`,
    cut = floor(T · cut_fraction),

        p_t = t / cut                                        if t < cut
              1 - (t - cut) / (cut · (1 / cut_fraction - 1))  otherwise (not below 0)
        η_t = max_learning_rate · (1 + p_t · (ratio - 1)) / ratio

    so η rises linearly from max/ratio to max over the first `cut` steps and falls linearly
    back to max/ratio at step T (and stays there after it).
    """

    def __init__(self, max_learning_rate, total_steps, cut_fraction=0.1, ratio=32.0):
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be a positive integer. Received: "
                             f"total_steps={total_steps!r}")
        if not 0 < cut_fraction < 1:
            raise ValueError(f"`cut_fraction` must be in (0, 1). Received: "
                             f"cut_fraction={cut_fraction!r}")
        self.max_learning_rate, self.total_steps = max_learning_rate, total_steps
        self.cut_fraction, self.ratio = cut_fraction, ratio

    def __call__(self, step):
        t = ops.cast(step, "float32")
        cut = float(max(1, math.floor(self.total_steps * self.cut_fraction)))
        p = ops.where(t < cut, t / cut,
                      1.0 - (t - cut) / (cut * (1.0 / self.cut_fraction - 1.0)))
        p = ops.maximum(p, 0.0)
        return self.max_learning_rate * (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def get_config(self):
        return {"max_learning_rate": self.max_learning_rate, "total_steps": self.total_steps,
                "cut_fraction": self.cut_fraction, "ratio": self.ratio}


@keras.saving.register_keras_serializable(package="kerasrnn")
class LayerwiseAdam(keras.optimizers.Adam):
    """Adam with ULMFiT's discriminative learning rates and gradual unfreezing.

    The groups are counted from the top: the top group (every variable in no named group) has
    depth 0, the last named group depth 1, and so on down to the first (the embedding). A
    variable at depth d

        learns at learning_rate / layer_lr_decay ** d        (ULMFiT: 2.6; 1: no difference)
        stays fixed until step d · unfreeze_every             (0: never frozen)

    so with `unfreeze_every` = the steps of an epoch, epoch 1 trains the top group, epoch 2 the
    top two, and so on (ULMFiT unfreezes one layer per epoch). A frozen variable's learning rate
    is 0: its weights do not move, while Adam's moments keep their running averages of its
    gradients, ready when it is unfrozen.

    Args:
        learning_rate: the top group's rate (a float or a schedule).
        groups: variable-path prefixes, bottom group first, relative to the model
            (a variable `text_classifier/rnn/bidirectional_0/...` is in group
            "rnn/bidirectional_0").
        layer_lr_decay, unfreeze_every: as above.
        **kwargs: as `keras.optimizers.Adam` (clipnorm, use_ema, ...).
    """

    def __init__(self, learning_rate=1e-3, groups=(), layer_lr_decay=1.0, unfreeze_every=0,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        if layer_lr_decay < 1:
            raise ValueError(f"`layer_lr_decay` must be at least 1. Received: "
                             f"layer_lr_decay={layer_lr_decay!r}")
        if not isinstance(unfreeze_every, int) or unfreeze_every < 0:
            raise ValueError(f"`unfreeze_every` must be a non-negative integer. Received: "
                             f"unfreeze_every={unfreeze_every!r}")
        self.groups, self.layer_lr_decay = [str(g) for g in groups], layer_lr_decay
        self.unfreeze_every = unfreeze_every
        self._depths = []

    def depth(self, path):
        """A variable path's group depth: 0 for the top group, len(groups) for the first."""
        relative = path.split("/", 1)[-1]  # without the model's own name
        for i, group in enumerate(self.groups):
            if relative == group or relative.startswith(group + "/"):
                return len(self.groups) - i
        return 0

    def build(self, variables):
        super().build(variables)
        self._depths = [self.depth(v.path) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        depth = self._depths[self._get_variable_index(variable)]
        rate = ops.cast(learning_rate, variable.dtype) / self.layer_lr_decay ** depth
        if self.unfreeze_every and depth:
            unfrozen = ops.greater_equal(self.iterations, depth * self.unfreeze_every)
            rate = rate * ops.cast(unfrozen, variable.dtype)
        super().update_step(gradient, variable, rate)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups,
                "layer_lr_decay": self.layer_lr_decay, "unfreeze_every": self.unfreeze_every}
