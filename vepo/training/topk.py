"""Top-K log-probabilities of the sampling distribution (DPPO's top-K divergences), without gradient, in fp32."""

from __future__ import annotations

import torch


@torch.no_grad()
def completion_log_softmax_topk(model, input_ids, attention_mask, logits_to_keep: int, temperature: float, k: int,
                                ids: torch.Tensor | None = None, chunk: int = 16):
    """For each completion position: the top-`k` log-probs and ids of softmax(logits / temperature), or, with `ids`
    (B, T, K) given, the log-probs at those ids. Temperature-scaled like the log-probs TRL's loss uses.
    Processed in row chunks so full (B, T, V) fp32 logits never exist at once."""
    out_logp, out_ids = [], []
    for start in range(0, input_ids.size(0), chunk):
        sl = slice(start, start + chunk)
        logits = model(input_ids=input_ids[sl], attention_mask=attention_mask[sl]).logits
        logits = logits[:, -logits_to_keep - 1:-1].float() / temperature  # position t predicts token t+1
        logp = torch.log_softmax(logits, dim=-1)
        if ids is None:
            values, index = logp.topk(min(k, logp.size(-1)), dim=-1)
            out_logp.append(values)
            out_ids.append(index)
        else:
            out_logp.append(logp.gather(-1, ids[sl].to(logp.device)))
    logp = torch.cat(out_logp, 0)
    return (logp, torch.cat(out_ids, 0)) if ids is None else (logp, ids)
