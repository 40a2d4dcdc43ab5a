"""Small, readable networks (book: "Toolkit: models"); each is built as ``Model(Config(...))``.

- ``UNet``             ε-network for 28×28 digits, optional class label with a null label
- ``MLP``              ε-network / score network for 2-D toys
- ``NoisyClassifier``  p(class | z, t) for classifier guidance
- ``MnistClassifier``  the independent evaluation classifier (fidelity, diversity, FID)
- ``FlowUNet``         the UNet as a flow-matching velocity network u(x, τ, c)
- ``AttributeUNet``    the UNet conditioned on a continuous attribute E (NaN = the unconditional query)

The character-level transformer lives in ``tempguide.models.char_gpt``.
"""
from .classifier import MnistClassifier, MnistClassifierConfig, NoisyClassifier, NoisyClassifierConfig
from .mlp import MLP, MLPConfig
from .unet import UNet, UNetConfig
from .attribute_unet import AttributeUNet, AttributeUNetConfig
from .flow_unet import FlowUNet

__all__ = ["AttributeUNet", "AttributeUNetConfig", "FlowUNet", "MLP", "MLPConfig", "MnistClassifier", "MnistClassifierConfig", "NoisyClassifier",
           "NoisyClassifierConfig", "UNet", "UNetConfig"]
