"""Retention ("alignment tax") scoring: language modelling on held-out text and multiple-choice log-likelihood, for a
trained model and its reference (base) model on the same token ids.

Token ids come from the reference tokenizer. When the model's tokenizer is the reference's, nothing else changes.
When it is a superset (`vepo extend-vocab` appends tokens and keeps every old token at its id), both models are
scored on the reference's segmentation and compared over the SHARED vocabulary: each next-token distribution is
restricted to the reference's ids and renormalised, so KL, NLL and choice log-likelihoods are conditional on "the
next token is one the base knows". The mass the model puts on its new tokens is reported as `new_token_mass` (what
that renormalisation removed). Any other tokenizer pair has no common token space and is an error."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vepo.errors import VepoError


def _chunks(ids: list[int], length: int, max_chunks: int | None) -> list[list[int]]:
    chunks = [ids[i:i + length] for i in range(0, len(ids), length)]
    chunks = [c for c in chunks if len(c) >= 2]  # a chunk needs one predicted token
    return chunks[:max_chunks] if max_chunks else chunks


def shared_vocabulary(tokenizer, ref_tokenizer, model_label: str, ref_label: str) -> list[int] | None:
    """None when the tokenizers have the same vocabulary; the reference's ids when the model's is a superset that
    keeps every reference token at its id; VepoError otherwise."""
    vocab, ref_vocab = tokenizer.get_vocab(), ref_tokenizer.get_vocab()
    if vocab == ref_vocab:
        return None
    moved = sum(1 for token, i in ref_vocab.items() if vocab.get(token) != i)
    if moved:
        raise VepoError(f"model '{model_label}' and retention.reference '{ref_label}' have incompatible tokenizers "
                        f"({moved} of {len(ref_vocab)} reference tokens missing or at another id); retention needs "
                        f"the same tokenizer or an extension of it (vepo extend-vocab)")
    return sorted(ref_vocab.values())


class Scorer:
    """Log-probabilities of both models over a common token space (see the module docstring)."""

    def __init__(self, model, reference, shared: list[int] | None, device: str) -> None:
        self.model, self.reference, self.device = model, reference, device
        self.shared = None if shared is None else torch.tensor(shared, device=device)

    @staticmethod
    def _restrict(logits: torch.Tensor, shared: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs (renormalised over `shared` when given) and the mass that lay outside `shared`."""
        full = F.log_softmax(logits, dim=-1)
        if shared is None:
            return full, None
        kept = full.index_select(-1, shared)
        inside = torch.logsumexp(kept, dim=-1)
        return kept - inside[:, None], 1.0 - inside.exp()

    @torch.no_grad()
    def pair(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(model log-probs, reference log-probs, model's mass outside the shared ids) at positions 0..n-2."""
        t = torch.tensor([ids], device=self.device)
        logits = self.model(t).logits[0, :-1].float()
        ref_logits = self.reference(t).logits[0, :-1].float()
        shared = self.shared
        if shared is None and logits.shape[-1] != ref_logits.shape[-1]:
            # same vocabulary, differently padded embedding matrices: the rows beyond the narrower one are padding
            shared = torch.arange(min(logits.shape[-1], ref_logits.shape[-1]), device=self.device)
        logp, outside = self._restrict(logits, shared)
        ref_logp, _ = self._restrict(ref_logits, shared)
        return logp, ref_logp, outside


def lm_scores(scorer: Scorer, chunks: list[list[int]]) -> dict:
    """Mean NLL per token of each model, perplexities, and the mean token-level KL(model || reference)."""
    nll_sum = ref_nll_sum = kl_sum = outside_sum = 0.0
    tokens = 0
    for chunk in chunks:
        logp, ref_logp, outside = scorer.pair(chunk)
        target = torch.tensor(chunk[1:], device=scorer.device)[:, None]
        nll_sum -= logp.gather(-1, target).sum().item()
        ref_nll_sum -= ref_logp.gather(-1, target).sum().item()
        kl_sum += (logp.exp() * (logp - ref_logp)).sum().item()  # KL(model || reference), summed over positions
        outside_sum += 0.0 if outside is None else outside.sum().item()
        tokens += target.shape[0]
    nll, ref_nll = nll_sum / tokens, ref_nll_sum / tokens
    return {"tokens": tokens, "nll": nll, "reference_nll": ref_nll, "delta_nll": nll - ref_nll,
            "perplexity": math.exp(nll), "reference_perplexity": math.exp(ref_nll),
            "kl_model_reference": max(kl_sum / tokens, 0.0),  # rounding can dip a zero KL below 0
            "new_token_mass": outside_sum / tokens}


def continuation_logprob(logp: torch.Tensor, ids: list[int], start: int) -> float:
    """Sum of log p(ids[i] | ids[:i]) for i >= start, from log-probs of positions 0..n-2."""
    target = torch.tensor(ids[start:], device=logp.device)[:, None]
    return logp[start - 1:].gather(-1, target).sum().item()


def mc_scores(scorer: Scorer, tokenizer, items: list[dict]) -> dict:
    """Each choice scored by its summed log-likelihood after the prompt (question, after the context when given);
    the prediction is the highest-scoring choice (the first on ties)."""
    preds, ref_preds, loglik, ref_loglik = [], [], [], []
    for item in items:
        prompt = tokenizer(mc_prompt(item))["input_ids"]  # special tokens as the tokenizer adds them (BOS, if any)
        rows, ref_rows = [], []
        for choice in item["choices"]:
            cont = tokenizer(" " + choice, add_special_tokens=False)["input_ids"]
            ids = prompt + cont
            logp, ref_logp, _ = scorer.pair(ids)
            rows.append(continuation_logprob(logp, ids, len(prompt)))
            ref_rows.append(continuation_logprob(ref_logp, ids, len(prompt)))
        loglik.append(rows)
        ref_loglik.append(ref_rows)
        preds.append(max(range(len(rows)), key=rows.__getitem__))
        ref_preds.append(max(range(len(ref_rows)), key=ref_rows.__getitem__))
    answers = [item["answer"] for item in items]
    acc = sum(p == a for p, a in zip(preds, answers)) / len(items)
    ref_acc = sum(p == a for p, a in zip(ref_preds, answers)) / len(items)
    return {"items": len(items), "accuracy": acc, "reference_accuracy": ref_acc, "delta_accuracy": acc - ref_acc,
            "predictions": preds, "reference_predictions": ref_preds, "loglik": loglik,
            "reference_loglik": ref_loglik}


def mc_prompt(item: dict) -> str:
    context = item.get("context")
    return f"{context}\n{item['question']}" if context else item["question"]


def load_models(model_path: str, reference_path: str, model_cfg, device: str):
    """(reference tokenizer, Scorer): the ids every retention score uses, and both models on the device."""
    from vepo.models.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_path, model_cfg.trust_remote_code)
    ref_tokenizer = load_tokenizer(reference_path, model_cfg.trust_remote_code)
    shared = shared_vocabulary(tokenizer, ref_tokenizer, str(model_path), str(reference_path))
    model = load_model(model_path, model_cfg.dtype, device, model_cfg.trust_remote_code).eval()
    reference = load_model(reference_path, model_cfg.dtype, device, model_cfg.trust_remote_code).eval()
    return ref_tokenizer, Scorer(model, reference, shared, device), shared


def run_retention(model_path: str, model_cfg, retention, device: str, text: str | None = None) -> dict:
    """The language-modelling part on `text` (default: retention.text_file)."""
    from pathlib import Path

    from vepo.utils.text_files import read_utf8_lines

    if text is None:
        if not retention.text_file:
            raise VepoError("suite=retention needs retention.text_file=<held-out general-domain text>")
        text = "\n".join(read_utf8_lines(Path(retention.text_file).expanduser()))
    if not retention.reference:
        raise VepoError("suite=retention needs retention.reference=<base model id or directory> to compare with")
    tokenizer, scorer, shared = load_models(model_path, retention.reference, model_cfg, device)
    chunks = _chunks(tokenizer(text, add_special_tokens=False)["input_ids"], retention.max_length,
                     retention.max_chunks)
    if not chunks:
        raise VepoError("the retention text has too little text (needs >= 2 tokens)")
    return {"model": str(model_path), "reference": str(retention.reference), "text_file": retention.text_file,
            "chunks": len(chunks), "max_length": retention.max_length,
            "vocabulary": "identical" if shared is None else f"shared ({len(shared)} reference ids)",
            **lm_scores(scorer, chunks)}
