"""vepo/models/static_generation.py: the static-cache generation engine, checked against a plain forward pass,
`model.generate` and the softmax it samples from."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare
from transformers import AutoModelForCausalLM, AutoTokenizer

from vepo.errors import VepoError
from vepo.models.static_generation import StaticCacheGenerator, filter_logits, inverse_cdf_sample


@pytest.fixture(scope="module")
def policy(tiny_policy):
    """The tiny policy with weights redrawn at a larger scale, so greedy paths vary across rows and steps (the
    default init makes every row repeat one token), and left-padded prompts of different lengths."""
    path, rows = tiny_policy
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    prompts = [r["prompt"] for r in rows[:6]]
    enc = tok(prompts, return_tensors="pt", padding=True)
    assert len(set(enc.attention_mask.sum(1).tolist())) > 1, "want prompts of different lengths"
    return model, tok, enc.input_ids, enc.attention_mask


def _forward_logprobs(model, ids, mask, completion, completion_mask):
    """Log-probs of `completion` from one plain forward pass over prompt + completion (fp32, temperature 1)."""
    full = torch.cat([ids, completion], 1)
    fmask = torch.cat([mask, completion_mask], 1)
    pos = (fmask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=full, attention_mask=fmask, position_ids=pos).logits.float()
    logits = logits[:, ids.shape[1] - 1:-1]
    return torch.log_softmax(logits, -1).gather(-1, completion[..., None]).squeeze(-1)


def _hf_greedy(model, ids, mask, n, eos, pad):
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=n,
                             eos_token_id=eos, pad_token_id=pad)
    return out[:, ids.shape[1]:]


def test_logprobs_equal_a_plain_forward_pass(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=8, max_prompt_len=ids.shape[1], max_new_tokens=12)
    out = engine.generate(ids, mask, temperature=1.0, top_k=50, top_p=0.95,
                          generator=torch.Generator().manual_seed(1), eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id)
    assert out.logprobs.dtype == torch.float32 and out.logprobs.shape == out.completion_ids.shape
    ref = _forward_logprobs(model, ids, mask, out.completion_ids, out.completion_mask)
    m = out.completion_mask.bool()
    torch.testing.assert_close(out.logprobs[m], ref[m], atol=1e-5, rtol=0)
    assert (out.logprobs[~m] == 0).all()


def test_logprobs_are_temperature_scaled_before_truncation(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=8, max_prompt_len=ids.shape[1], max_new_tokens=6)
    out = engine.generate(ids, mask, temperature=0.7, top_k=5, generator=torch.Generator().manual_seed(2),
                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    full = torch.cat([ids, out.completion_ids], 1)
    fmask = torch.cat([mask, out.completion_mask], 1)
    with torch.no_grad():
        logits = model(input_ids=full, attention_mask=fmask,
                       position_ids=(fmask.cumsum(-1) - 1).clamp(min=0)).logits.float()[:, ids.shape[1] - 1:-1]
    ref = torch.log_softmax(logits / 0.7, -1).gather(-1, out.completion_ids[..., None]).squeeze(-1)
    m = out.completion_mask.bool()
    torch.testing.assert_close(out.logprobs[m], ref[m], atol=1e-5, rtol=0)


def test_greedy_equals_model_generate(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=8, max_prompt_len=ids.shape[1], max_new_tokens=16)
    out = engine.generate(ids, mask, do_sample=False, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    ref = _hf_greedy(model, ids, mask, 16, tok.eos_token_id, tok.pad_token_id)
    assert len(set(out.completion_ids.flatten().tolist())) > 3, "a degenerate model would prove little"
    assert torch.equal(out.completion_ids, ref)
    # temperature 0 is greedy too, whatever do_sample says
    again = engine.generate(ids, mask, temperature=0.0, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    assert torch.equal(again.completion_ids, ref)


def test_top_k_one_and_tiny_top_p_equal_greedy(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=8, max_prompt_len=ids.shape[1], max_new_tokens=10)
    kw = dict(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    greedy = engine.generate(ids, mask, do_sample=False, **kw).completion_ids
    g = torch.Generator().manual_seed(3)
    assert torch.equal(engine.generate(ids, mask, temperature=1.3, top_k=1, generator=g, **kw).completion_ids, greedy)
    assert torch.equal(engine.generate(ids, mask, temperature=1.3, top_p=1e-6, generator=g, **kw).completion_ids,
                       greedy)


def test_filter_logits_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, None, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, 3, 0.99))
    assert kept.tolist() == [[True, True, True, False]]


def test_sampling_matches_the_softmax(policy):
    model, tok, ids, mask = policy
    temperature, n_rows, batch = 1.5, 4000, 500
    prompt, pmask = ids[:1], mask[:1]
    with torch.no_grad():
        pos = (pmask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=prompt, attention_mask=pmask, position_ids=pos).logits[0, -1].float()
    probs = torch.softmax(logits / temperature, -1).double()
    engine = StaticCacheGenerator(model, max_batch=batch, max_prompt_len=ids.shape[1], max_new_tokens=1)
    g = torch.Generator().manual_seed(4)
    counts = torch.zeros_like(probs)
    for _ in range(n_rows // batch):
        out = engine.generate(prompt.expand(batch, -1), pmask.expand(batch, -1), temperature=temperature,
                              generator=g, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        assert out.completion_ids.shape == (batch, 1)
        counts += torch.bincount(out.completion_ids[:, 0], minlength=probs.numel()).double()
    expected = probs * n_rows
    # merge categories expected fewer than 5 times into one
    rare = expected < 5
    obs = torch.cat([counts[~rare], counts[rare].sum().view(1)])
    exp = torch.cat([expected[~rare], expected[rare].sum().view(1)])
    assert (~rare).sum() >= 5, "the test needs several common categories"
    p_value = chisquare(obs.numpy(), exp.numpy() * obs.sum().item() / exp.sum().item()).pvalue
    assert p_value > 1e-4, p_value


def test_padding_eos_and_single_token(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=8, max_prompt_len=ids.shape[1], max_new_tokens=12)
    pad = tok.pad_token_id
    free = engine.generate(ids, mask, do_sample=False, eos_token_id=None, pad_token_id=pad)
    assert free.completion_ids.shape == (ids.shape[0], 12) and bool(free.completion_mask.all())
    # Make row 0's third greedy token the EOS: row 0 ends at step 3 (or earlier if it appears before), others run on.
    eos = int(free.completion_ids[0, 2])
    out = engine.generate(ids, mask, do_sample=False, eos_token_id=eos, pad_token_id=pad)
    ref = _hf_greedy(model, ids, mask, 12, eos, pad)
    assert torch.equal(out.completion_ids, ref)
    end = int((free.completion_ids[0] == eos).nonzero()[0])
    assert out.completion_ids.shape[1] > end + 1, "other rows should run on after row 0 ends"
    assert out.completion_mask[0, :end + 1].all() and not out.completion_mask[0, end + 1:].any()
    assert (out.completion_ids[0, end + 1:] == pad).all() and (out.logprobs[0, end + 1:] == 0).all()
    lp = _forward_logprobs(model, ids, mask, out.completion_ids, out.completion_mask)
    m = out.completion_mask.bool()
    torch.testing.assert_close(out.logprobs[m], lp[m], atol=1e-5, rtol=0)
    # every row ends on EOS at its first step: the loop stops after one step
    first = engine.generate(ids[:1], mask[:1], do_sample=False, eos_token_id=int(free.completion_ids[0, 0]),
                            pad_token_id=pad)
    assert first.completion_ids.shape == (1, 1) and first.completion_mask.tolist() == [[1]]
    # max_new_tokens=1, also with a batch smaller than the cache was first allocated for
    one = engine.generate(ids[:3], mask[:3], do_sample=False, max_new_tokens=1, eos_token_id=None, pad_token_id=pad)
    assert torch.equal(one.completion_ids, free.completion_ids[:3, :1])
    assert torch.equal(_hf_greedy(model, ids[:3], mask[:3], 1, None, pad), one.completion_ids)


def test_limits_raise_clear_errors(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=2, max_prompt_len=ids.shape[1], max_new_tokens=4)
    with pytest.raises(VepoError, match="max_batch"):
        engine.generate(ids, mask)
    with pytest.raises(VepoError, match="max_new_tokens"):
        engine.generate(ids[:2], mask[:2], max_new_tokens=5)
    with pytest.raises(VepoError, match="max_prompt_len"):
        StaticCacheGenerator(model, 2, 2, 4).generate(ids[:2], mask[:2])


def test_compile_flag_builds_a_compiled_step(policy):
    model, tok, ids, mask = policy
    engine = StaticCacheGenerator(model, max_batch=2, max_prompt_len=ids.shape[1], max_new_tokens=4, compile=True)
    assert engine._decode is not engine._decode_step  # wrapped lazily; compiling itself is left to GPU benches


def test_inverse_cdf_sampling_never_draws_a_zero_mass_token_and_matches_the_masses():
    """Zero mass at the first and last ids and in the middle (as top-k/top-p leave it): never drawn, even for a
    uniform number of exactly 0; the others in proportion to their mass (chi-square)."""
    probs = torch.tensor([0.0, 0.1, 0.0, 0.2, 0.3, 0.4, 0.0])
    n = 20_000
    tokens = inverse_cdf_sample(probs.expand(n, -1), torch.Generator().manual_seed(0))
    counts = torch.bincount(tokens, minlength=probs.numel())
    assert counts[probs == 0].sum() == 0
    support = probs > 0
    assert chisquare(counts[support].numpy(), (probs[support] * n).numpy()).pvalue > 1e-3
    # u = 0 exactly lands past the leading zero-mass id (right-sided search)
    cdf = probs.double().cumsum(-1)
    assert int(torch.searchsorted(cdf, torch.zeros(1, 1, dtype=torch.float64), right=True)) == 1
