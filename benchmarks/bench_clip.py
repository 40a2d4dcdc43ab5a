"""The tiny CLIP on the 1,000 test digits (book: "CLIP").

For the clean ``clip`` (shown clean digits) and the noise-aware ``clip_noisy`` (shown
x_t = (y + √t·ε)/√(1+t), one noise draw per digit) at each t in ``--ts``:
zero-shot accuracy of the digit and of each attribute (the caption probabilities
summed over the captions that contain the word, ``clip.zero_shot``), and caption
retrieval (the true caption among all 120 at rank 1 and in the top 5).
The truth is the test digit's label and its measured attributes (``tempguide.captions``).
Chance levels: digit 0.10, size 0.5, thickness 0.5, slant 1/3, caption 1/120.
Writes book/results/clip_zero_shot.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/bench_clip.py
"""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from tempguide import pretrained
from tempguide.clip import T_CLEAN, caption_index
from tempguide.clip.zero_shot import zero_shot_report
from tempguide.data import load_mnist
from tempguide.metrics.tables import save_table

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["model", "t", "digit", "size", "thickness", "slant", "caption top-1", "caption top-5"]
CLAIM = ("CLIP (Radford et al. 2021): contrastive image–text pre-training gives zero-shot classifiers; "
         "GLIDE retrains it on noised images for guidance")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ts", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0])
    args = parser.parse_args(argv)
    images, labels = load_mnist("test", source="subset", verbose=False)
    k = caption_index(labels, images)
    rows = []
    for name, ts in (("clip", [T_CLEAN, *args.ts]), ("clip_noisy", [T_CLEAN, *args.ts])):
        model = pretrained.load(name, device="cpu")
        for t in ts:
            r = zero_shot_report(model, images, k, t)
            rows.append([name, "clean" if t == T_CLEAN else t] + [round(r[f], 3) for f in (
                "digit_accuracy", "size_accuracy", "thickness_accuracy", "slant_accuracy",
                "caption_top1", "caption_top5")])
            print(rows[-1], flush=True)
    save_table("clip_zero_shot", COLUMNS, rows, directory=ROOT / "book" / "results",
               meta={"command": "OMP_NUM_THREADS=1 python benchmarks/bench_clip.py", "n": len(images),
                     "data": "MNIST test subset (1,000 digits)", "noise_seed": 0, "claim": CLAIM,
                     "date": datetime.date.today().isoformat()})


if __name__ == "__main__":
    main()
