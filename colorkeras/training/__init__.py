"""Training: the config and its recipes, objectives, the training loop, cached embeddings, and the run folder's owner (`run.py`)."""
