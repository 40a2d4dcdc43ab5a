"""``python -m tempguide.train NAME [--steps N] [--seed S] [--out DIR] [--force] [--no-eval]``.

Trains the named model with its recipe (``tempguide.train.recipes``) and writes
``NAME.pt`` plus its manifest entry into the package's ``pretrained`` directory
(or ``--out``).  An existing checkpoint is kept unless ``--force`` is given.
Diffusion models are then sampled and scored (``tempguide.train.evaluate``)
unless ``--no-eval``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import pretrained
from . import recipes, recipes_cfg_variants, recipes_ch6_clip, recipes_ch6_sr, recipes_guidance, recipes_mvae


def _char_gpt(**kwargs):
    try:
        from .recipe_char_gpt import char_gpt  # the LM chapter's recipe, imported on demand
    except ImportError as err:
        raise SystemExit(f"char_gpt: its recipe is not available ({err}); it lives in "
                         "src/tempguide/train/recipe_char_gpt.py (`def char_gpt(...) -> Trained`).")
    return char_gpt(**kwargs)


RECIPES = {
    "mnist_classifier": recipes.mnist_classifier,
    "mnist_uncond": recipes.mnist_uncond,
    "mnist_cond": recipes.mnist_cond,
    "mnist_noisy_classifier": recipes.mnist_noisy_classifier,
    "toy_2d": recipes.toy_2d,
    "char_gpt": _char_gpt,
    **recipes_guidance.RECIPES,
    **recipes_cfg_variants.RECIPES,
    **recipes_mvae.RECIPES,
    **recipes_ch6_sr.RECIPES,
    **recipes_ch6_clip.RECIPES,
}
DIFFUSION = ("mnist_uncond", "mnist_cond", "mnist_cond_p05", "mnist_cond_p50", "mnist_cond_blurry", "mnist_cond_weak")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tempguide.train", description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=pretrained.DIRECTORY, help="checkpoint directory")
    parser.add_argument("--force", action="store_true", help="overwrite an existing checkpoint")
    parser.add_argument("--no-eval", action="store_true", help="skip sampling-based evaluation")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")

    path = args.out / f"{args.name}.pt"
    if path.exists() and not args.force:
        print(f"{path} exists; pass --force to overwrite it.", file=sys.stderr)
        return 1
    trained = RECIPES[args.name](steps=args.steps, seed=args.seed)
    result = trained.result
    train_info = {"steps": result.steps, "batch_size": trained.batch_size, "lr": trained.lr,
                  "seconds": round(result.seconds, 1), "seed": args.seed,
                  "ema_debiased": True}  # tempguide.train.loop.debias_ema
    metrics = {k: round(v, 5) for k, v in trained.metrics.items()}
    path = pretrained.save(args.name, trained.model, config=trained.config, data=trained.data,
                           train_info=train_info, metrics=metrics, directory=args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) in {result.seconds:.0f} s; metrics {metrics}")
    if args.name in DIFFUSION and not args.no_eval:
        from .evaluate import evaluate_checkpoint
        evaluate_checkpoint(args.name, directory=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
