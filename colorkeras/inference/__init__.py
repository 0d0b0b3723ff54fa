"""Inference: the Predictor (the one way in), chroma upsampling, photos, films and their temporal stabiliser."""
