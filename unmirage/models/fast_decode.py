"""A hand-written greedy decode loop for the tiny embedded LLaVA (Llama text model, CPU).

For a 4M-parameter model `model.generate` spends much of each step outside arithmetic: its
logits processors, stopping criteria and input preparation, the causal-mask builder, and the
KV cache's `torch.cat` of every layer's keys and values. This loop runs the prompt through the
model's own forward once (the same prefill as `generate`), then decodes with the model's own
modules on preallocated key/value buffers, one attention mask for all layers, and drops the
rows that reached EOS from the batch. Every module call and the attention call take the same
inputs as in `generate`, so the tokens are the same (tested against `generate`).

Real checkpoints (other architectures, GPUs, grouped-query attention, other attention
implementations) keep `model.generate`: `fast_decode_supported` says which path applies.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from transformers import LlamaModel, LlavaForConditionalGeneration
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

COMPACT_SHARE = 0.25
"""Drop finished rows from the buffers once they are this share of the rows still decoded:
each compaction copies every layer's keys and values, so not after every single EOS."""


def fast_decode_supported(model: Any) -> bool:
    """True for a LLaVA whose language model is a plain Llama with SDPA attention and one key/
    value head per query head, on the CPU, in inference mode (the tiny embedded models)."""
    if not isinstance(model, LlavaForConditionalGeneration) or model.training:
        return False
    lm = model.model.language_model
    if not isinstance(lm, LlamaModel) or lm.config._attn_implementation != "sdpa":
        return False
    attention = lm.layers[0].self_attn
    device = next(model.parameters()).device
    return attention.num_key_value_groups == 1 and device.type == "cpu"


@torch.inference_mode()
def greedy_decode(
    model: LlavaForConditionalGeneration,
    enc: dict[str, Tensor],
    *,
    max_new_tokens: int,
    eos: int | list[int],
    pad: int,
) -> Tensor:
    """New tokens (B, <= max_new_tokens) of greedy decoding from a left-padded batch `enc`;
    after a row's EOS its positions hold `pad`, as `model.generate` returns them."""
    lm = model.model.language_model
    mask = enc["attention_mask"].bool()
    rows, prompt = mask.shape
    # the prefill of `generate`: positions count real tokens only (left padding)
    positions = (mask.long().cumsum(-1) - 1).masked_fill(~mask, 0)
    out = model(**enc, position_ids=positions, use_cache=True, logits_to_keep=1)
    width = prompt + max_new_tokens
    keys, values = [], []
    for layer in out.cache.layers:
        k = layer.keys.new_empty((rows, layer.keys.shape[1], width, layer.keys.shape[3]))
        k[:, :, :prompt] = layer.keys
        v = torch.empty_like(k)
        v[:, :, :prompt] = layer.values
        keys.append(k)
        values.append(v)
    seen = mask.new_zeros((rows, width))
    seen[:, :prompt] = mask
    stops = torch.tensor([eos] if isinstance(eos, int) else list(eos))
    tokens = torch.full((rows, max_new_tokens), pad, dtype=torch.long)
    live = torch.arange(rows)  # batch row -> row of `tokens`
    dead = torch.zeros(rows, dtype=torch.bool)  # finished rows still in the buffers
    last = positions[:, -1:].clone()
    logits = out.logits[:, -1].float()
    del out
    for step in range(max_new_tokens):
        token = logits.argmax(-1)
        running = ~dead
        tokens[live[running], step] = token[running]
        dead |= torch.isin(token, stops)
        if step + 1 == max_new_tokens or bool(dead.all()):
            break
        n_dead = int(dead.sum())
        if n_dead and n_dead >= COMPACT_SHARE * len(live):
            keep = (~dead).nonzero().squeeze(1)
            keys = [k.index_select(0, keep) for k in keys]
            values = [v.index_select(0, keep) for v in values]
            seen, last, token, live = seen[keep], last[keep], token[keep], live[keep]
            dead = dead[keep]
        t = prompt + step
        seen[:, t] = True
        last = last + 1
        logits = decode_step(lm, model.lm_head, token, last, keys, values, seen[:, : t + 1], t)
    return tokens


def decode_step(
    lm: LlamaModel,
    head: torch.nn.Module,
    token: Tensor,
    position: Tensor,
    keys: list[Tensor],
    values: list[Tensor],
    seen: Tensor,
    t: int,
) -> Tensor:
    """Logits (b, vocab) after one new token per row, its keys and values written at t.

    The steps of LlamaModel / LlamaDecoderLayer / LlamaAttention for one query token, with the
    attention mask `generate` would pass: none when no row has padding, else the padding.
    """
    x = lm.embed_tokens(token[:, None])
    cos, sin = lm.rotary_emb(x, position)
    attn_mask = None if bool(seen.all()) else seen[:, None, None, :]
    b = x.shape[0]
    for layer, k_buf, v_buf in zip(lm.layers, keys, values, strict=True):
        attention = layer.self_attn
        h = layer.input_layernorm(x)
        shape = (b, 1, -1, attention.head_dim)
        q = attention.q_proj(h).view(shape).transpose(1, 2)
        k = attention.k_proj(h).view(shape).transpose(1, 2)
        v = attention.v_proj(h).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k_buf[:, :, t] = k[:, :, 0]
        v_buf[:, :, t] = v[:, :, 0]
        a = torch.nn.functional.scaled_dot_product_attention(
            q,
            k_buf[:, :, : t + 1],
            v_buf[:, :, : t + 1],
            attn_mask=attn_mask,
            dropout_p=0.0,
            scale=attention.scaling,
            is_causal=False,
        )
        a = a.transpose(1, 2).reshape(b, 1, -1).contiguous()
        x = x + attention.o_proj(a)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    x = lm.norm(x)
    return head(x[:, -1:, :])[:, -1].float()
