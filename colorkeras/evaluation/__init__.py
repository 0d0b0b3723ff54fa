"""Evaluation: metrics, evaluate, the report and its figures, the quality grid, video evaluation."""
