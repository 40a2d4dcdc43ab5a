"""Numbers typed in the prose and solutions of chapters 1–2 are recomputed here (issue 17: no typed slips).

Each test finds a number or a vector in the page's text by what precedes it, recomputes it from the
library or from the definition, and requires the page to show the recomputed value at the precision
it prints.  A rounding slip or a number that outlived a change of the model fails here.
"""
import math
import re
from pathlib import Path

import pytest
import torch

from tempguide import toy
from tempguide.diffusion import mode_statistics, tempered_mixture_approx, tempered_probabilities
from tempguide.lm import exact, filter_logits

BOOK = Path(__file__).resolve().parents[1] / "book"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def page(name):
    return (BOOK / name).read_text()


def quoted(text, before):
    """The number printed right after the regex ``before`` (spaces, $ and = allowed in between)."""
    match = re.search(before + r"[\s$=]*" + NUMBER, text, flags=re.S)
    assert match, f"the page no longer says {before!r}: update the test with the page"
    return match.group(1)


def quoted_vector(text, before):
    """The parenthesised vector of numbers printed right after the regex ``before``."""
    match = re.search(before + r"[\s$]*\(([0-9.,\s]+)\)", text, flags=re.S)
    assert match, f"the page no longer says {before!r} followed by a vector"
    return [s.strip() for s in match.group(1).split(",")]


def shown(value, printed):
    """``value`` rounded to the decimals of ``printed`` is ``printed``."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{value:.{decimals}f}" == printed


def assert_shown(values, printed):
    assert len(values) == len(printed), (values, printed)
    wrong = [(v, p) for v, p in zip(values, printed) if not shown(v, p)]
    assert not wrong, f"printed ≠ computed (rounded as printed): {wrong}"


# -- chapter 1 ------------------------------------------------------------------------------------

def test_llm_nucleus_exercise():
    text = page("llm_temperature.md")
    p = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    assert_shown(filter_logits(p.log(), top_p=0.7).softmax(-1)[:2].tolist(),
                 quoted_vector(text, r"renormalised to"))
    assert_shown(p.sqrt().tolist(), quoted_vector(text, r"\\propto \\sqrt\{p\} ="))
    at_t2 = filter_logits(p.log(), temperature=2.0).softmax(-1)
    assert_shown(at_t2.tolist(), quoted_vector(text, r"At \$T=2\$ the probabilities are.*?normalised"))
    assert_shown([at_t2[:2].sum().item()], [quoted(text, r"The top two now have mass")])
    assert_shown([at_t2[0].item(), 0.2 * at_t2[0].item()],
                 [quoted(text, r"it is \$0\.2\\cdot"), quoted(text, r"it is \$0\.2\\cdot [0-9.]+ =")])


def test_llm_two_step_exercise():
    text = page("llm_temperature.md")
    lm = exact.MarkovLM(["end", "A", "B", "1", "2"],
                        [[0, 0.6, 0.4, 0, 0], [0, 0, 0, 0.55, 0.45], [0, 0, 0, 1, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
                        max_len=2)
    seqs = exact.sequences(lm)
    name = {s: lm.decode(s[:-1]).replace("end", "") for s in seqs}
    q2 = dict(zip((name[s] for s in seqs), exact.per_token_distribution(lm, 2.0).tolist()))
    p2 = dict(zip((name[s] for s in seqs), exact.sequence_level_distribution(lm, 2.0).tolist()))
    for seq in ("A1", "A2", "B1"):
        assert_shown([q2[seq]], [quoted(text, rf"Q_2\({seq}\)")])
        assert_shown([p2[seq]], [quoted(text, rf"P\^2\({seq}\)")])
    assert_shown([0.33**2 + 0.27**2 + 0.4**2], [quoted(text, r"normalised by")])


def test_llm_toy_facts():
    text = page("llm_temperature.md")
    lm = exact.toy_lm()
    assert str(len(exact.sequences(lm))) in re.findall(r"whose ([0-9]+) sentences", text)
    assert_shown([exact.sequence_prob(lm, exact.most_probable_sequence(lm))],
                 [quoted(text, r"most\s+probable sentence is `b\.` with probability")])
    assert_shown([exact.sequence_prob(lm, exact.greedy_sequence(lm))],
                 [quoted(text, r"produces `aaaaa\.`, which has probability")])


# -- chapter 2 ------------------------------------------------------------------------------------

def test_diffusion_tempered_weights_exercise():
    text = page("diffusion_temperature.md")
    mix = toy.mixture_2d()
    terms = (mix.weights**4 * mix.stds ** (-6)).tolist()
    for k, printed in enumerate([quoted(text, r"mode 0 \$0\.0256/0\.015625 ="),
                                 quoted(text, r"mode 1 \$10\^\{-4\}/7\.29\\cdot10\^\{-4\} ="),
                                 quoted(text, r"mode 2 \$0\.0081/0\.004096 ="),
                                 quoted(text, r"mode 3 \$0\.0016/7\.29\\cdot10\^\{-4\} =")]):
        assert math.isclose(terms[k], float(printed), rel_tol=0.005), (k, terms[k], printed)
    closed, _ = tempered_mixture_approx(mix, 4.0)
    assert_shown(closed.tolist(), quoted_vector(text, r"Normalised:"))
    axis = torch.linspace(-5, 5, 301, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    on_grid = mode_statistics(mix, grid, tempered_probabilities(mix.log_prob(grid), 4.0)).weights
    assert_shown(on_grid.tolist(), quoted_vector(text, r"the grid gives"))


def test_diffusion_quantile_exercise():
    text = page("diffusion_temperature.md")
    normal = torch.distributions.Normal(0.0, 1.0)
    z07 = normal.icdf(torch.tensor(0.7, dtype=torch.float64)).item()
    assert_shown([z07], [quoted(text, r"\\Phi\^\{-1\}\(0\.7\)/\\sqrt T =")])
    assert_shown([2 * z07], [quoted(text, r"1-\\Phi\(")])
    assert_shown([1 - normal.cdf(torch.tensor(2 * z07)).item()], [quoted(text, r"1-\\Phi\([0-9.]+\) =")])
    assert_shown([0.3**4 / (0.3**4 + 0.7**4)], [quoted(text, r"0\.3\^4/\(0\.3\^4\+0\.7\^4\) =")])
    # and F(b) ≈ 0.7 at the boundary b between the modes (where the posterior is ½), as the solution says
    mix = toy.mixture_1d()
    z = torch.linspace(-1.0, 1.0, 20001, dtype=torch.float64)[:, None]
    b = z[(mix.posterior(z, 0.0)[:, 0] - 0.5).abs().argmin()]
    F_b = sum(w * normal.cdf((b - m) / s) for w, m, s in zip(mix.weights.tolist(), mix.means[:, 0].tolist(),
                                                             mix.stds.tolist()))
    assert F_b.item() == pytest.approx(0.7, abs=1e-3)


def test_diffusion_width_claims_follow_the_computed_table():
    """The prose on mode widths ("only Langevin gets them right", the ODE "60–90 % too wide at β = 8")
    against book/results/diffusion_temperature_1d_widths.json (written by the benchmark)."""
    import json
    data = json.loads((BOOK / "results" / "diffusion_temperature_1d_widths.json").read_text())
    betas = [float(c.split("=")[1]) for c in data["columns"][1:]]
    rows = {r[0]: [[float(x) if x != "—" else math.nan for x in cell.split(" / ")] for cell in r[1:]]
            for r in data["rows"][1:]}
    text = " ".join(page("diffusion_temperature.md").split())
    assert "only Langevin gets them right" in text and "60–90 % too wide at $\\beta = 8$" in text
    assert all(abs(r - 1) < 0.1 for cell in rows["Langevin at T"] for r in cell)
    ode_at_8 = rows["ODE, scaled start"][betas.index(8.0)]
    assert all(1.6 <= r < 1.9 for r in ode_at_8)
    noise = rows["noise × √T"]
    assert all(r > 1.05 for cell in noise[1:] for r in cell)
    assert all(a[k] < b[k] for a, b in zip(noise[1:], noise[2:]) for k in (0, 1))    # wider as β grows
    for beta, cell in zip(betas[1:], rows["SDE, score × β"][1:]):
        assert cell[0] == pytest.approx(math.sqrt(beta / (2 * beta - 1)), rel=0.06)   # heavy mode


def test_diffusion_noise_vs_eps_numbers():
    """The worked values of τ²s² against τs²/(2 − τ), and of the two equivalent β, at τ = 0.8 and 0.6."""
    text = " ".join(page("diffusion_temperature.md").split())
    for tau in (0.8, 0.6):
        match = re.search(r"\$([0-9.]+)\\,s\^2\$ against \$([0-9.]+)\\,s\^2\$ at \$\\tau = " + re.escape(f"{tau:g}") + r"\$",
                          text)
        assert match, f"the page no longer compares the two knobs at τ = {tau}"
        eps_v, noise_v = match.groups()
        assert_shown([tau / (2 - tau), tau**2], [eps_v, noise_v])
    match = re.search(r"\(([0-9.]+) against ([0-9.]+) at \$\\tau = 0\.8\$\)", text)
    assert match, "the page no longer gives the two β at τ = 0.8"
    assert_shown([(2 - 0.8) / 0.8, 1 / 0.8**2], list(match.groups()))


def test_notebook_21_quotes_the_computed_widths_table():
    """Notebook 21's widths sentence quotes the chapter's table at β = 8 (book/results/…_1d_widths.json)."""
    import json

    import nbformat

    data = json.loads((BOOK / "results" / "diffusion_temperature_1d_widths.json").read_text())
    at_8 = {r[0]: r[data["columns"].index("β = 8")] for r in data["rows"][1:]}
    notebook = nbformat.read(BOOK.parent / "notebooks" / "21_diffusion_temperature_exact.ipynb", as_version=4)
    text = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown" and "heavy / light" in c.source)
    text = " ".join(text.split())
    for sampler, words in (("noise × √T", "times $P^\\beta$'s width with noise scaling"),
                           ("ODE, scaled start", "times with the scaled-start ODE"),
                           ("SDE, score × β", "times with score scaling")):
        match = re.search(r"([0-9.]+) / ([0-9.]+) " + re.escape(words), text)
        assert match, f"notebook 21 no longer quotes {sampler!r} as 'X / Y {words}'"
        assert " / ".join(match.groups()) == at_8[sampler], (sampler, match.groups(), at_8[sampler])
