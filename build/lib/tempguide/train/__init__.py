"""Training: one loop (``loop.train``) and a recipe per shipped model (``python -m tempguide.train NAME``)."""
from .loop import TrainResult, random_batches, train

__all__ = ["TrainResult", "random_batches", "train"]
