"""Inference: the Predictor (the one way in, `predictor.Predictor.open`), chroma upsampling,
photos (colorize, manifest), films (frames, video, video_io) and their temporal stabiliser,
and the service behind the app."""
