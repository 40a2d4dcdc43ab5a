"""CLIP's symmetric contrastive loss (book: "CLIP"; Radford et al. 2021, Figure 3; van den Oord et al. 2018).

For a batch of B pairs with logits L = exp(s) · C_I C_Tᵀ (B, B):

    ℓ = ½ [ CE(L, targets) + CE(Lᵀ, targets) ]        (InfoNCE, both directions)

with CE the row-wise cross-entropy.  With ``caption_ids`` the targets of row i
are uniform over every j whose caption equals i's (only 120 captions exist, so a
batch has duplicates, which plain CLIP would count as negatives); without them
the target of row i is i alone, as in CLIP.
"""
from __future__ import annotations

import torch


def info_nce(logits: torch.Tensor, caption_ids: torch.Tensor | None = None) -> torch.Tensor:
    """½ (CE(L, T) + CE(Lᵀ, Tᵀ)) for square logits (B, B); T = I, or the same-caption mask normalised per row."""
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"logits must be square (B, B), got {tuple(logits.shape)}")
    B = logits.shape[0]
    if caption_ids is None:
        same = torch.eye(B, device=logits.device)
    else:
        if caption_ids.shape != (B,):
            raise ValueError(f"caption_ids must have shape ({B},), got {tuple(caption_ids.shape)}")
        same = (caption_ids[:, None] == caption_ids[None, :]).to(logits.dtype)  # symmetric
    targets = same / same.sum(1, keepdim=True)
    image_to_text = -(targets * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(targets * logits.T.log_softmax(1)).sum(1).mean()
    return (image_to_text + text_to_image) / 2
