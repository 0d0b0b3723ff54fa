"""colorkeras: colorize grayscale photographs of cities with Keras 3."""

__version__ = "0.1.0"
