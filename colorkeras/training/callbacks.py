"""What Keras calls during `fit`: the run's checkpoint after each epoch, a stop on a
non-finite loss, and progress lines for logs that are not a terminal."""

from __future__ import annotations

import math
import sys
import time

import keras

from colorkeras.errors import InvalidArgument
from colorkeras.training.run import Run


class NonFiniteLoss(RuntimeError):
    pass


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise (instead of finishing the epoch) so no NaN weights are ever saved."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLoss(f"loss became {loss} at batch {batch}")


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: the best end-to-end model, the resumable state and the log.

    Args:
        run: the run folder's Run.
        end_to_end: the model to save as best.keras (shares layers with the trained graph).
        history: per-epoch logs so far (restored on resume).
        best: (best_val_loss, best_epoch) so far.
        objective: what the model was trained for (recorded in best.json).
        saved_model: the model saved as best.keras, given the end-to-end model's weights
            (its float32 twin under mixed precision); default: ``end_to_end`` itself.
    """

    def __init__(self, run: Run, end_to_end, history, best, objective, saved_model=None):
        super().__init__()
        self.run = run
        self.objective = objective
        self.end_to_end = end_to_end
        self.saved_model = saved_model if saved_model is not None else end_to_end
        self.history = history
        self.best_val_loss, self.best_epoch = best
        self._epoch_start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if any(not math.isfinite(v) for v in logs.values()):
            raise NonFiniteLoss(f"a non-finite value in epoch {epoch + 1}'s logs: {logs}")
        row = {"epoch": epoch + 1, **logs, "seconds": round(time.time() - self._epoch_start, 2)}
        self.history.append(row)
        monitored = logs.get("val_loss", logs.get("loss"))
        if self.best_val_loss is None or monitored < self.best_val_loss:
            self.best_val_loss, self.best_epoch = monitored, epoch + 1
            if self.saved_model is not self.end_to_end:
                self.saved_model.set_weights(self.end_to_end.get_weights())
            self.run.save_best(self.best_epoch, self.best_val_loss, self.saved_model, self.objective)
        state = {"epochs_done": epoch + 1, "best_val_loss": self.best_val_loss, "best_epoch": self.best_epoch,
                 "optimizer_iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
                 "history": self.history}
        self.run.save_state(epoch + 1, self.model.save_weights, state)
        self.run.write_log(self.history)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class ProgressLines(keras.callbacks.Callback):
    """One line of progress at most every ``every`` seconds, for logs that are not a
    terminal (CI, notebooks' captured output, a subprocess), where Keras' redrawn bar
    becomes a flood of lines:

        epoch 3/50 step 40/160 (25%) 1.2 s/step, ETA 2 min

    The ETA is for the rest of the epoch; Keras' own epoch line (verbose=2) follows it.
    """

    def __init__(self, every: float = 10.0, stream=None):
        super().__init__()
        self.every = every
        self.stream = stream
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        done, steps = batch + 1, self.params.get("steps")
        per_step = (now - self._start) / done
        where = f"epoch {self._epoch}/{self.params.get('epochs')} step {done}"
        if steps:
            where += f"/{steps} ({100 * done // steps}%)"
        eta = f", ETA {_duration(per_step * (steps - done))}" if steps else ""
        print(f"{where} {per_step:.2g} s/step{eta}", file=self.stream or sys.stdout, flush=True)


def progress_settings(verbose, every: float):
    """(Keras' verbose, our callbacks) for `colorkeras.training.train.train`'s ``verbose``:
    "auto" (1 on a terminal, else "lines"), "lines" (Keras' line per epoch plus a
    `ProgressLines` every ``every`` seconds), or Keras' own 0, 1 or 2."""
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else "lines"
    if verbose == "lines":
        return 2, [ProgressLines(every)]
    if verbose in (0, 1, 2):
        return verbose, []
    raise InvalidArgument(f"verbose must be 'auto', 'lines', 0, 1 or 2, got {verbose!r}")
