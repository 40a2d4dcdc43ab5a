"""The language-model instance of the Markovian VAE (book: "The Markovian-VAE generalization", language models).

A tiny random CharGPT stands in for char_gpt: every output depends on the whole context, so a
wrong crop, a wrong branch or a wrong sign changes the tokens.  References: chapter 1's sampler,
transformers' TemperatureLogitsWarper and UnbatchedClassifierFreeGuidanceLogitsProcessor.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from transformers.generation.logits_process import (TemperatureLogitsWarper,
                                                    UnbatchedClassifierFreeGuidanceLogitsProcessor)

from tempguide.lm import generate
from tempguide.models.char_gpt import CharGPT, CharGPTConfig
from tempguide.mvae import lm

V = 12


def _model(block_size=64, seed=0):
    torch.manual_seed(seed)
    net = CharGPT(CharGPTConfig(vocab_size=V, block_size=block_size, n_layer=1, n_head=2, n_embd=16, dropout=0.0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(4.0)                                  # sharper, context-dependent logits
    return net.eval()


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


PROMPT = torch.tensor([[1, 5, 7, 2, 9], [3, 3, 8, 0, 4]])


@pytest.mark.seed("000-31")
def test_prefix_levels_drop_the_last_token():
    y = torch.tensor([4, 1, 6])
    levels = lm.prefix_levels(y)
    assert [z.tolist() for z in levels] == [[4, 1, 6], [4, 1], [4], []]  # z₀ = y, …, z_N = ∅


def test_cfg_logits_by_hand():
    s_c, s_u = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.5, 0.5, 0.0]])
    l_c, l_u = s_c - torch.logsumexp(s_c, -1, keepdim=True), s_u - torch.logsumexp(s_u, -1, keepdim=True)
    for w in [0.0, 1.0, 3.0]:
        expect = l_c + (w - 1) * (l_c - l_u)                          # Sanchez et al.: γ = w
        assert torch.allclose(lm.cfg_logits(s_c, s_u, w), expect, atol=1e-6)
    assert torch.allclose(lm.cfg_logits(s_c, s_u, 0.0), l_u, atol=1e-6)


def test_seed_and_contrastive_logits_by_hand():
    s_c, s_u = torch.tensor([[3.0, 1.0, 0.0, -4.0]]), torch.tensor([[3.0, -1.0, 0.0, -6.0]])
    p_c = s_c.softmax(-1)
    diff = s_c.log_softmax(-1) - s_u.log_softmax(-1)
    assert torch.allclose(lm.seed_logits(s_c, s_u), diff)
    out = lm.contrastive_logits(s_c, s_u, alpha=0.1)
    keep = p_c >= 0.1 * p_c.max()                                     # V_head = {v : p_c(v) ≥ α max p_c}
    assert keep.tolist() == [[True, True, False, False]]
    assert torch.isinf(out[~keep]).all() and torch.allclose(out[keep], diff[keep])
    # the seed's difference prefers the implausible token −4 ↦ −6: contrastive's mask removes it
    assert lm.seed_logits(s_c, s_u).argmax() == 1 and out.argmax() == 1
    assert torch.allclose(lm.contrastive_logits(s_c, s_u, alpha=0.0), diff)


def test_unadjusted_and_tempered_are_chapter_one():
    net = _model()
    for beta in [1.0, 2.0, 0.5]:
        ours = lm.generate_guided_lm(net, PROMPT, 12, w=1.0, beta=beta, generator=_g(3))
        ref = generate(net, PROMPT, 12, temperature=1 / beta, generator=_g(3))
        assert torch.equal(ours, ref)
    greedy = lm.generate_guided_lm(net, PROMPT, 12, w=1.0, beta=math.inf)
    assert torch.equal(greedy, generate(net, PROMPT, 12, temperature=0))


def test_tempered_step_matches_transformers_temperature_warper():
    logits = torch.randn(3, V, generator=_g(1))
    beta = 2.5
    ref = TemperatureLogitsWarper(1 / beta)(None, logits.clone()).softmax(-1)
    ours = lm.cfg_logits(logits, torch.zeros_like(logits), 1.0).mul(beta).softmax(-1)   # softmax β·ℓ
    assert torch.allclose(ours, ref, atol=1e-6)


def test_w_zero_samples_without_the_prompt():
    # w = 0 samples from p(· | null_prefix + continuation) = chapter 1's sampler from the last prompt token.
    net = _model()
    ours = lm.generate_guided_lm(net, PROMPT, 10, w=0.0, generator=_g(4))
    ref = generate(net, PROMPT[:, -1:], 10, generator=_g(4))
    assert torch.equal(ours[:, PROMPT.shape[1]:], ref[:, 1:])


class _HFStub:
    """The CharGPT behind transformers' processor interface: model(ids, **kw).logits."""

    def __init__(self, net):
        self.net = net

    def __call__(self, input_ids, **kwargs):
        out = {"logits": self.net(input_ids)}

        class Out(dict):
            logits = out["logits"]
        return Out(out)


@pytest.mark.parametrize("w", [0.5, 2.0, 4.0])
def test_guided_generation_matches_transformers_cfg_processor(w):
    # Greedy decoding with transformers' UnbatchedClassifierFreeGuidanceLogitsProcessor
    # (unconditional ids default to the prompt's last token, then the continuation is appended).
    net = _model()
    ours = lm.generate_guided_lm(net, PROMPT, 15, w=w, beta=math.inf)
    for b in range(PROMPT.shape[0]):
        proc = UnbatchedClassifierFreeGuidanceLogitsProcessor(w, _HFStub(net), use_cache=False)
        ids = PROMPT[b:b + 1]
        for _ in range(15):
            with torch.no_grad():
                scores = proc(ids, net(ids)[:, -1])
            ids = torch.cat([ids, scores.argmax(-1, keepdim=True)], 1)
        assert torch.equal(ours[b], ids[0])


def test_branches_see_prompt_plus_continuation_and_null_plus_continuation():
    net = _model(block_size=7)
    seen = []

    def recording(ids):
        seen.append(ids.clone())
        return net(ids)

    null = torch.tensor([11, 10])
    out = lm.generate_guided_lm(recording, PROMPT, 4, w=2.0, null_prefix=null, context=7, generator=_g(5))
    cont = out[:, PROMPT.shape[1]:]
    for k in range(4):
        cond, uncond = seen[2 * k], seen[2 * k + 1]
        assert torch.equal(cond, torch.cat([PROMPT, cont[:, :k]], 1)[:, -7:])
        assert torch.equal(uncond, torch.cat([null.expand(2, -1), cont[:, :k]], 1)[:, -7:])
    assert seen[2].shape[1] == 6 and seen[6].shape[1] == 7                     # the window starts sliding
    # the default null prefix is the last prompt token
    a, b = lm.branch_contexts(torch.cat([PROMPT, cont], 1), PROMPT.shape[1], PROMPT[:, -1:])
    assert torch.equal(b, torch.cat([PROMPT[:, -1:], cont], 1)) and torch.equal(a[:, :5], PROMPT)


def test_separate_null_model_is_the_unconditional_branch():
    net, amateur = _model(seed=0), _model(seed=1)
    calls = {"expert": 0, "amateur": 0}

    def counted(model, key):
        def f(ids):
            calls[key] += 1
            return model(ids)
        return f

    out = lm.generate_guided_lm(counted(net, "expert"), PROMPT, 5, rule="contrastive", beta=math.inf,
                                null_prefix=PROMPT, model_null=counted(amateur, "amateur"))
    assert calls == {"expert": 5, "amateur": 5}
    ids = PROMPT
    for _ in range(5):                                                         # by hand
        s = lm.contrastive_logits(net(ids)[:, -1], amateur(ids)[:, -1])
        ids = torch.cat([ids, s.argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, ids)


def test_prompt_pmi_by_hand():
    net = _model()
    cont = torch.tensor([[6, 1, 2], [0, 0, 9]])
    pmi = lm.prompt_pmi(net, PROMPT, cont)
    for b in range(2):
        total = 0.0
        for j in range(3):
            with_p = torch.cat([PROMPT[b], cont[b, :j]])[None]
            without = torch.cat([PROMPT[b, -1:], cont[b, :j]])[None]
            total += (F.log_softmax(net(with_p)[0, -1], -1)[cont[b, j]]
                      - F.log_softmax(net(without)[0, -1], -1)[cont[b, j]]).item()
        assert math.isclose(float(pmi[b]), total / 3 / math.log(2), rel_tol=1e-4, abs_tol=1e-6)


def test_prompt_ngram_excess_by_hand():
    prompts = ["abcdef gh", "xyz", "abc"]
    conts = ["bcd zz", "abc", "qq"]
    # 3-grams inside words.  Continuation 0: ["bcd"] -> shares (1, 0, 0): excess 1 − 0 = 1.
    # Continuation 1: ["abc"] -> shares (1, 0, 1): excess 0 − 1 = −1.  Continuation 2: no 3-gram -> 0.
    excess = lm.prompt_ngram_excess(prompts, conts, n=3)
    assert excess.tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert lm.prompt_ngram_excess(["ab cd", "x"], ["b c", "x"], n=3).tolist() == [0.0, 0.0]   # no grams across spaces
    with pytest.raises(ValueError, match="equal length"):
        lm.prompt_ngram_excess(prompts, conts[:1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(rule="negative"), "rule"), (dict(beta=0.0), "beta"), (dict(beta=-2.0), "beta"),
    (dict(w=math.nan), "w"), (dict(rule="contrastive", alpha=1.5), "alpha"),
    (dict(null_prefix=torch.zeros(3, 2, dtype=torch.long)), "null_prefix"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lm.generate_guided_lm(_model(), PROMPT, 2, **kwargs)


def test_guided_lm_refuses_float_out_of_range_ids_and_bad_context():
    """Like ``lm.generate``: ids are never truncated or wrapped silently (issue 16)."""
    from tempguide.mvae.lm import generate_guided_lm

    class Uniform:
        vocab_size = 5

        def __call__(self, ids):
            return torch.zeros(ids.shape[0], ids.shape[1], 5)

    model = Uniform()
    assert generate_guided_lm(model, torch.tensor([[1, 2]]), 2, w=2.0).shape == (1, 4)
    with pytest.raises(ValueError, match="prompt must be an integer tensor"):
        generate_guided_lm(model, torch.tensor([1.0, 2.7]), 2)
    with pytest.raises(ValueError, match=r"prompt must hold token ids in \[0, 5\), got range \[1, 5\]"):
        generate_guided_lm(model, torch.tensor([1, 5]), 2)
    with pytest.raises(ValueError, match="null_prefix must hold token ids"):
        generate_guided_lm(model, torch.tensor([1, 2]), 2, null_prefix=torch.tensor([-1]))
    with pytest.raises(ValueError, match="context must be None or an int >= 1"):
        generate_guided_lm(model, torch.tensor([1, 2]), 2, context=0)
