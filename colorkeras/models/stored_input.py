"""Training on stored uint8 batches: normalise on the device, inside the compiled step.

The readers (``colorkeras.data.pipeline``) hand over L and ab as they are stored, uint8
(3 bytes per pixel instead of 12 for float32 L + ab), plus the cached float32 embedding
for fusion families. What turns them into the model's input and target runs inside the
compiled training step, on whichever device trains:

* ``NormalizeStored``, a layer in front of the family's training graph: uint8 L ->
  normalised L in float32 (``color.STORED_L_AFFINE``, one multiply-add);
* ``StoredTargetLoss``, the objective's loss on a uint8 ab target: ab is normalised
  (``color.STORED_AB_AFFINE``) and handed to the objective's loss, which encodes it.

Both use ``color.stored_to_normalized_ops``: the same float32 multiply-add the host did
before (``color.stored_to_normalized``), so batches agree to float32 rounding.

``stored_input_graph`` wraps a training graph; it shares every weight with it, and it is
only trained, never saved as a model: best.keras stays the end-to-end float model
(normalised L in).
"""

from __future__ import annotations

import keras

from colorkeras import color


@keras.saving.register_keras_serializable(package="colorkeras")
class NormalizeStored(keras.layers.Layer):
    """Stored uint8 values -> normalised float32 (always float32, whatever the policy:
    the first layer of the model casts to its compute dtype, as it did with host input).

    Args:
        affine: (scale, offset) of stored -> normalised; default L's.
    """

    def __init__(self, affine=color.STORED_L_AFFINE, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.affine = tuple(float(value) for value in affine)

    def call(self, stored):
        return color.stored_to_normalized_ops(stored, self.affine)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "affine": list(self.affine)}


def stored_input_graph(training_graph: keras.Model) -> keras.Model:
    """``training_graph`` with uint8 L (B, S, S, 1) in place of normalised L.

    Other inputs (a fusion family's cached embedding) pass through unchanged. The result
    shares every layer with ``training_graph``; it is what ``fit`` trains.
    """
    l_input, *others = training_graph.inputs
    # === Functional Model ===
    l_stored = keras.Input(tuple(l_input.shape[1:]), dtype="uint8", name="l_stored")
    l_norm = NormalizeStored(name="normalize_l")(l_stored)
    passed = [keras.Input(tuple(x.shape[1:]), dtype=x.dtype, name=x.name) for x in others]
    outputs = training_graph([l_norm, *passed] if passed else l_norm)
    inputs = [l_stored, *passed] if passed else l_stored
    return keras.Model(inputs, outputs, name=f"{training_graph.name}_stored")


class StoredTargetLoss(keras.losses.Loss):
    """The objective's loss with a stored uint8 ab target (B, S, S, 2): the target is
    normalised inside the step, then the objective's own loss applies (which encodes it).

    Args:
        objective: a registered objective (``colorkeras.training.objectives``).
    """

    def __init__(self, objective, name: str | None = None):
        base = keras.losses.get(objective.loss)  # a Loss ("huber") or a function ("mse")
        # Unreduced values, reduced as compile would reduce the objective's own loss.
        is_loss = isinstance(base, keras.losses.Loss)
        super().__init__(name=name or f"{objective.name}_on_stored",
                         reduction=base.reduction if is_loss else "sum_over_batch_size")
        self.unreduced = base.call if is_loss else base
        self.objective = objective

    def call(self, y_true, y_pred):
        # The objective's loss takes normalised ab and encodes it itself (objectives.py).
        return self.unreduced(color.stored_to_normalized_ops(y_true, color.STORED_AB_AFFINE), y_pred)
