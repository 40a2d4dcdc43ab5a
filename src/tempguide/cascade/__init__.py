"""Super-resolution and the cascade (book: "Conditional diffusion in practice").

- ``resample``: down (2×2 mean), up (bicubic), up_nearest, consistency.
- ``sr3``: SR3's loss with noise-conditioning augmentation, its sampler, the regression baseline.
- ``pipeline``: the cascade, a 14×14 class-conditional base model (with CFG) followed by SR3.
"""
from .resample import consistency, down, up, up_nearest
from .sr3 import augment_condition, regress, regression_loss, sample_sr3, sr3_loss, sr_eps
from .pipeline import sample_base, sample_cascade

__all__ = ["consistency", "down", "up", "up_nearest", "augment_condition", "regress", "regression_loss",
           "sample_sr3", "sr3_loss", "sr_eps", "sample_base", "sample_cascade"]
