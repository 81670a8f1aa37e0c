"""Embedding rows for new tokens: each is the mean of the base embeddings of the token's old segmentation.

The mean keeps a new token where its pieces already were in embedding space (and, for the output side, gives it
about the average logit of its pieces), so the extended model starts close to the base model. Rows of old ids are
never touched, so text written with the old vocabulary gets exactly the base model's logits over the old vocabulary.
"""

from __future__ import annotations

import torch

from vepo.errors import VepoError


def _row_means(weight: torch.Tensor, base_ids: list[list[int]]) -> torch.Tensor:
    lengths = torch.tensor([len(ids) for ids in base_ids])
    flat = torch.tensor([i for ids in base_ids for i in ids], dtype=torch.long, device=weight.device)
    group = torch.repeat_interleave(torch.arange(len(base_ids)), lengths).to(weight.device)
    rows = weight.detach()[flat].float()  # mean in float32 even for bf16 weights
    sums = torch.zeros(len(base_ids), *weight.shape[1:], dtype=torch.float32, device=weight.device)
    sums.index_add_(0, group, rows)
    return (sums / lengths.to(weight.device).view(-1, *([1] * (weight.dim() - 1)))).to(weight.dtype)


def extend_embeddings(model, new_ids: list[int], base_ids: list[list[int]]) -> dict:
    """Resize the model's embeddings to cover `new_ids` and set row new_ids[k] to the mean of rows base_ids[k], in the
    input embeddings and (when not tied to them) the output embeddings and their bias. Returns what was done."""
    if len(new_ids) != len(base_ids) or any(not ids for ids in base_ids):
        raise ValueError("every new id needs a non-empty base segmentation")
    rows_before = model.get_input_embeddings().weight.shape[0]
    if any(i >= rows_before for ids in base_ids for i in ids):
        raise VepoError(f"the base tokenizer produces ids beyond the model's {rows_before} embedding rows; the "
                        f"tokenizer does not belong to this model")
    needed = max(new_ids) + 1
    if needed > rows_before:
        # mean_resizing=False: the rows are set below; sampling them first would only cost time.
        model.resize_token_embeddings(needed, mean_resizing=False)
    inputs, outputs = model.get_input_embeddings(), model.get_output_embeddings()
    tied = outputs is None or outputs.weight.data_ptr() == inputs.weight.data_ptr()
    index = torch.tensor(new_ids, dtype=torch.long, device=inputs.weight.device)
    with torch.no_grad():
        inputs.weight[index] = _row_means(inputs.weight, base_ids)
        if not tied:
            outputs.weight[index] = _row_means(outputs.weight, base_ids)
        bias = getattr(outputs, "bias", None) if outputs is not None else None
        if bias is not None:
            bias[index] = _row_means(bias, base_ids)
    return {"rows_before": rows_before, "rows_after": model.get_input_embeddings().weight.shape[0],
            "tied_embeddings": tied, "output_bias": bias is not None}
