"""The closing tables of "CLIP, GLIDE and DALL·E 2": each seed claim beside our number (book: the closing note).

Reads the tables written by ``bench_clip``, ``bench_glide`` and ``bench_unclip`` in
book/results and writes claims_clip, claims_glide and claims_unclip (no new measurement:
every number is copied from a row of those tables, named in the "from" column).

    python benchmarks/summary_ch6_clip.py
"""
from __future__ import annotations

import json
from pathlib import Path

from tempguide.metrics.tables import save_table

RESULTS = Path(__file__).resolve().parents[1] / "book" / "results"
COLUMNS = ["seed's claim", "what we measured", "ours", "from"]


def rows_of(name):
    data = json.loads((RESULTS / f"{name}.json").read_text())
    return [dict(zip(data["columns"], r)) for r in data["rows"]]


def best(rows, method):
    """The row of ``method`` with the highest match_all (ties: the lower FID)."""
    return max((r for r in rows if r["method"] == method), key=lambda r: (r["match_all"], -r["fid"]))


def main():
    meta = {"command": "python benchmarks/summary_ch6_clip.py", "source": "book/results/{clip_zero_shot,glide,unclip}.json"}
    clip = {(r["model"], r["t"]): r for r in rows_of("clip_zero_shot")}
    c, n10, c10 = clip[("clip", "clean")], clip[("clip_noisy", 10.0)], clip[("clip", 10.0)]
    save_table("claims_clip", COLUMNS, [
        ["CLIP does contrastive coding (image and text encoders)",
         "zero-shot digit accuracy on clean test digits (chance 0.10)", c["digit"], "clip_zero_shot: clip, clean"],
        ["", "the true caption first among all 120", c["caption top-1"], "clip_zero_shot: clip, clean"],
        ["CLIP is re-trained to handle noised images",
         "zero-shot digit accuracy at t = 10: noise-aware / clean CLIP", f"{n10['digit']} / {c10['digit']}",
         "clip_zero_shot: t = 10"],
    ], meta=meta, directory=RESULTS)

    glide = rows_of("glide")
    cg, cgn, cfg = (best(glide, m) for m in ("CLIP guidance on mnist_uncond (γ)",
                                             "CLIP guidance on mnist_text_cond's ∅ (γ)", "text CFG (w)"))
    save_table("claims_glide", COLUMNS, [
        ["the classifier-free model taking raw text is superior to the CLIP-guided model",
         f"caption-match (all four words): CLIP guidance γ = {cg['weight']:g} / text CFG w = {cfg['weight']:g}",
         f"{cg['match_all']} / {cfg['match_all']}", "glide: best row of each"],
        ["", f"the same network: CLIP guidance on its ∅ branch γ = {cgn['weight']:g} / its CFG w = {cfg['weight']:g}",
         f"{cgn['match_all']} / {cfg['match_all']}", "glide"],
        ["", "digit match (evaluation classifier): CLIP guidance / text CFG", f"{cg['match_digit']} / {cfg['match_digit']}",
         "glide"],
        ["", f"FID (floor {cfg['fid_floor']}): CLIP guidance / text CFG", f"{cg['fid']} / {cfg['fid']}", "glide"],
        ["", "diversity per caption: CLIP guidance / text CFG",
         f"{cg['diversity_per_caption']} / {cfg['diversity_per_caption']}", "glide"],
    ], meta=meta, directory=RESULTS)

    un = rows_of("unclip")
    u, t = best(un, "unCLIP (decoder w)"), best(un, "text CFG (w)")
    save_table("claims_unclip", COLUMNS, [
        ["unCLIP is similar in quality to (self-guided) GLIDE",
         f"FID (floor {u['fid_floor']}): unCLIP w = {u['weight']:g} / text CFG w = {t['weight']:g}",
         f"{u['fid']} / {t['fid']}", "unclip: best row of each"],
        ["", "caption-match (all four words): unCLIP / text CFG", f"{u['match_all']} / {t['match_all']}", "unclip"],
        ["... but more diverse", "diversity per caption: unCLIP / text CFG",
         f"{u['diversity_per_caption']} / {t['diversity_per_caption']}", "unclip"],
    ], meta=meta, directory=RESULTS)


if __name__ == "__main__":
    main()
