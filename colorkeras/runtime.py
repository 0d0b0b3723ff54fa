"""What runs the models: a quiet TensorFlow start, the GPUs the backend sees, the precision
training uses on them, and how to say so (one CLI line, or a notebook's paragraph).

TensorFlow's C++ start-up writes lines to the process's stderr before its logging is set up
("All log messages before absl::InitializeLog() ...", oneDNN and "Could not find cuda
drivers" notes, twice, once per shared library), and on a machine without a GPU an
``E0000 ... failed call to cuInit`` line that reads like a failure. None of it is for our
users: ``quiet_tensorflow_startup()`` sets TensorFlow's log level and imports TensorFlow,
when it is first imported by anyone, with file descriptor 2 sent to a temporary file; lines
other than the known start-up notes are passed on to stderr.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

# Start-up notes of TensorFlow's C++ side that say nothing a user can act on.
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor"
    r"|cuda_dnn|cuda_fft|cuda_blas|computation_placer)\.cc:\d+\].*"
    r"|To enable the following instructions: .*, in other operations, rebuild TensorFlow.*"
    r"|Skipping registering GPU devices\.\.\.)$"
)


@contextlib.contextmanager
def _stderr_filtered():
    """Send fd 2 to a file for the duration; afterwards pass on every line that is not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if line.strip() and not _STARTUP_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class _QuietTensorflowFinder(importlib.abc.MetaPathFinder):
    """Imports the top-level ``tensorflow`` package with its start-up lines filtered."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            with _stderr_filtered():
                original(module)

        loader.exec_module = exec_module
        return spec


def quiet_tensorflow_startup() -> None:
    """Keep TensorFlow's start-up chatter off the terminal, whoever imports it and when.

    A user's own ``TF_CPP_MIN_LOG_LEVEL`` wins; ours (3) also hides the cuInit "error"
    that every CPU-only run logs when the first tensor is placed.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorflowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorflowFinder())


def gpu_names() -> list[str]:
    """The GPUs the Keras backend sees, with compute capability where known."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            name = details.get("device_name", gpu.name)
            capability = details.get("compute_capability")
            names.append(f"{name} (compute capability {capability[0]}.{capability[1]})" if capability else name)
        return names
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform == "gpu"]
    return []


def in_colab() -> bool:
    """True inside Google Colab (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def resolve_precision(requested: str) -> str:
    """float16 with loss scaling on GPUs before Ampere (a T4), bfloat16 on newer, else float32."""
    if requested != "auto":
        return requested
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "float32"
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (7, 0))
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "gpu":
            return "float32"
        capability = float(getattr(device, "compute_capability", "7.0"))
        return "mixed_bfloat16" if capability >= 8.0 else "mixed_float16"
    return "float32"


def describe_accelerator() -> str:
    """What will run the models, for a notebook: backend, GPUs, and the precision training will use."""
    import keras

    gpus = gpu_names()
    lines = [f"Keras {keras.__version__}, backend {keras.backend.backend()}."]
    if gpus:
        lines.append("GPU: " + "; ".join(gpus) + ".")
        lines.append(f"Training precision: {resolve_precision('auto')} (chosen for this GPU).")
    else:
        advice = ("In Colab: Runtime > Change runtime type > T4 GPU, then run the notebook again."
                  if in_colab() else "Training the study's recipe needs a GPU.")
        lines.append("No GPU found: everything runs on the CPU. That is fine for the smoke run and "
                     f"for colorizing a few photos. {advice}")
    return "\n".join(lines)


def device_line() -> str | None:
    """One line naming the GPU(s) the models will run on, or None on a CPU-only machine
    (a CPU user needs no line about devices)."""
    gpus = gpu_names()
    if not gpus:
        return None
    import keras

    return f"Running on {'; '.join(gpus)} ({keras.backend.backend()} backend)."
