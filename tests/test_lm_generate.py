"""sample_next and generate: reproducible, greedy = argmax loop, right frequencies, both model kinds."""
import pytest
import torch

from tempguide.lm import exact, filter_logits, generate, sample_next
from tempguide.models.char_gpt import CharGPT, CharGPTConfig


@pytest.fixture(scope="module")
def gpt():
    torch.manual_seed(0)
    return CharGPT(CharGPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.0)).eval()


def test_generate_is_reproducible_with_a_generator(gpt):
    prompt = torch.randint(96, (3, 5), generator=torch.Generator().manual_seed(1))
    a = generate(gpt, prompt, 40, temperature=1.2, top_p=0.9, generator=torch.Generator().manual_seed(7))
    b = generate(gpt, prompt, 40, temperature=1.2, top_p=0.9, generator=torch.Generator().manual_seed(7))
    c = generate(gpt, prompt, 40, temperature=1.2, top_p=0.9, generator=torch.Generator().manual_seed(8))
    assert a.shape == (3, 45) and torch.equal(a[:, :5], prompt)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_greedy_equals_an_argmax_loop(gpt):
    prompt = torch.randint(96, (2, 3), generator=torch.Generator().manual_seed(2))
    out = generate(gpt, prompt, 30, temperature=0)  # longer than block_size: the context is cropped
    ids = prompt.clone()
    with torch.no_grad():
        for _ in range(30):
            ids = torch.cat([ids, gpt(ids[:, -16:])[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, ids)
    assert torch.equal(generate(gpt, prompt[0], 30, temperature=0), ids[0])  # 1-D prompt -> 1-D output


@pytest.mark.seed("000-06")
def test_sample_next_frequencies_match_the_filtered_softmax():
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])
    kw = dict(temperature=0.7, top_p=0.9)
    p = filter_logits(logits, **kw).softmax(-1)
    n = 40000
    draws = sample_next(logits.expand(n, 5), generator=torch.Generator().manual_seed(3), **kw)
    freq = torch.bincount(draws, minlength=5) / n
    assert torch.allclose(freq, p, atol=4 * (0.25 / n) ** 0.5)
    assert freq[p == 0].sum() == 0  # removed tokens are never drawn


@pytest.mark.seed("000-06")
def test_generate_with_a_next_token_model_matches_the_exact_distribution():
    lm = exact.toy_lm()
    n = 20000
    out = generate(lm, torch.zeros(n, 1, dtype=torch.long), 2, temperature=0.5,
                   generator=torch.Generator().manual_seed(4))
    # first two tokens after the start: Q_β(y1, y2) = temper(P(.|start))[y1] · temper(P(.|y1))[y2]
    q = exact.temper(lm.transition[0], 2.0)[:, None] * exact.temper(lm.transition, 2.0)
    freq = torch.zeros(4, 4, dtype=torch.float64)
    for y1, y2 in out[:, 1:].tolist():
        freq[y1, y2] += 1 / n
    assert torch.allclose(freq, q, atol=0.012)


@pytest.mark.seed("000-09")
def test_generate_greedy_on_the_toy_is_the_greedy_sequence():
    lm = exact.toy_lm()
    out = generate(lm, torch.zeros(1, dtype=torch.long), 6, temperature=0)
    assert lm.decode(out[1:]) == lm.decode(exact.greedy_sequence(lm))


def test_bad_arguments(gpt):
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(gpt, torch.zeros(1, 2, dtype=torch.long), -1)
    with pytest.raises(ValueError, match="prompt"):
        generate(gpt, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="top_p"):
        generate(gpt, torch.zeros(1, 2, dtype=torch.long), 3, top_p=0)


def test_kv_cache_gives_the_same_logits_and_samples(gpt):
    from tempguide.models.char_gpt import KVCached

    x = torch.randint(96, (3, 16), generator=torch.Generator().manual_seed(5))
    cached = KVCached(gpt)
    with torch.no_grad():
        for t in range(1, 17):  # one token at a time, as generate feeds it
            assert torch.allclose(cached(x[:, :t]), gpt(x[:, :t])[:, -1], atol=1e-5)
    prompt = x[:, :4]
    # past block_size (16) the window slides and the cache falls back to full recomputation
    for kw in (dict(temperature=0), dict(temperature=1.0, top_k=20)):
        a = generate(gpt, prompt, 30, generator=torch.Generator().manual_seed(6), **kw)
        b = generate(KVCached(gpt), prompt, 30, generator=torch.Generator().manual_seed(6), **kw)
        assert torch.equal(a, b)
