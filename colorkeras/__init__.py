"""colorkeras: colorize grayscale photographs of cities with Keras 3.

The package's floors are the pipeline's stages: ``data``, ``models``, ``training``,
``inference``, ``evaluation``, on the leaves ``color``, ``images``, ``fileio``, ``errors``
and ``runtime``; ``cli``, ``app``, ``demo`` and ``notebook`` are the faces (README, "Layout").
"""

from colorkeras import moved

__version__ = "0.2.0"

moved.install()
