"""Yardsticks every chapter reports (book: "Toolkit: metrics").

- ``tempguide.metrics.image``: fidelity (accuracy of generated digits under the
  independent evaluation classifier), diversity (mean pairwise distance in its
  feature space), the MNIST-feature Fréchet distance with its real-vs-real
  floor, and sharpness (variance of the Laplacian).
- ``tempguide.metrics.text``: repetition rate, distinct-n and perplexity of
  generated text.

Import the submodule you need: ``from tempguide.metrics import image``.
"""
