"""Greedy coordinate gradient (GCG): an adversarial suffix that makes a model start complying.

For one query the prompt is rendered by the model's chat template with the suffix appended
to the query, and the target (the opening of a compliant answer) is placed where the answer
starts. Each step takes the gradient of the target's cross-entropy with respect to a one-hot
encoding of the suffix tokens, keeps the `topk` most promising tokens per position, samples
`candidates` single-token swaps, scores them all in batched forward passes and moves to the
best. The image inputs are the processor's and stay fixed; only text tokens change.

The gradient flows through a forward hook on the input embedding layer, so the model runs
its own forward (image features merged by `input_ids`, Qwen2-VL's M-RoPE positions from
`image_grid_thw`): any architecture `AutoModelForImageTextToText` loads works unchanged.
Only tokens that survive decode/encode are used, and a candidate must re-tokenize to itself
inside the rendered prompt, so the suffix found is the suffix `unmirage eval` feeds the model.

The prompt before the suffix (image tokens and the query) is the same for every candidate:
its keys and values are computed once per query and copied across each scored batch, so the
vision tower runs once per query and each candidate costs only its last positions. A forward
pass in the counts below is one sequence through the model, whole or after the cache.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import DynamicCache

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.depth.gcg_config import GCGConfig
from unmirage.errors import InputError
from unmirage.models.chat import assistant_opening, render_prompt
from unmirage.models.encode import PER_TOKEN_KEYS, TOKEN_TYPE_KEYS, load_images

SENTINEL = "\x00SUFFIX\x00"
"""Marks the suffix slot in a rendered prompt (no template or query contains a NUL)."""
INIT_TOKENS = (" !", " x", "!", "x")
"""The initial suffix repeats the first of these that is one token and re-tokenizes to itself."""


@dataclass(frozen=True)
class Problem:
    """One query's fixed parts: token ids before the suffix (image tokens expanded), after it
    (the rest of the user turn and the assistant header) and the target, the per-image
    processor tensors, and the text around the suffix for the re-tokenization check."""

    before: Tensor
    after: Tensor
    target: Tensor
    images: dict[str, Tensor]
    token_types: dict[str, Tensor]
    before_text: str
    after_text: str


@dataclass
class GCGResult:
    """The best suffix found (lowest target loss over every candidate scored)."""

    suffix_ids: list[int]
    suffix: str
    loss: float
    initial_loss: float
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    forwards: int = 0
    backwards: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """Wall time and this process's CPU time (on shared cores wall time includes waiting)."""
    reached: bool = False
    """The model's greedy continuation of the best prompt is the target itself."""


def build_problem(processor: Any, sample: Sample, target: str, images: Images | None) -> Problem:
    """Tokenize `sample`'s prompt around the suffix slot, and `target` where the answer
    begins, exactly as `unmirage.models.encode.encode_prompts` would."""
    slotted = dataclasses.replace(sample, query=sample.query + SENTINEL)
    prompt = render_prompt(processor, slotted)
    if prompt.count(SENTINEL) != 1:
        raise InputError(
            "the chat template does not keep the query verbatim", record=sample.id, field="query"
        )
    before_text, after_text = prompt.split(SENTINEL)
    pictures = load_images([sample], images)
    enc = processor(text=[before_text], images=pictures or None, return_tensors="pt")
    tok = processor.tokenizer
    opening = assistant_opening(processor, sample, target, prompt.replace(SENTINEL, ""))
    after = tok(after_text, add_special_tokens=False)["input_ids"]
    target_ids = tok(opening, add_special_tokens=False)["input_ids"]
    if not target_ids:
        raise InputError("the target is empty", record=sample.id, field="target")
    return Problem(
        before=enc["input_ids"][0],
        after=torch.tensor(after, dtype=torch.long),
        target=torch.tensor(target_ids, dtype=torch.long),
        images={k: v for k, v in enc.items() if k not in PER_TOKEN_KEYS},
        token_types={k: enc[k][0] for k in TOKEN_TYPE_KEYS if k in enc},
        before_text=before_text,
        after_text=after_text,
    )


def allowed_tokens(tokenizer: Any, vocab_size: int) -> Tensor:
    """A mask over the embedding rows: real tokens of printable ASCII text (no newlines or
    control characters that could break a template) that encode back to themselves alone.
    Special and added tokens (image placeholders, turn markers) are never allowed."""
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    ids = [i for i in range(min(vocab_size, len(tokenizer))) if i not in special]
    texts = tokenizer.batch_decode([[i] for i in ids])
    printable = [(i, t) for i, t in zip(ids, texts, strict=True) if t.isascii() and t.isprintable()]
    if printable:
        back = tokenizer([t for _, t in printable], add_special_tokens=False)["input_ids"]
        for (i, _), again in zip(printable, back, strict=True):
            mask[i] = again == [i]
    return mask


def retokenizes(tokenizer: Any, problem: Problem, suffixes: Tensor) -> Tensor:
    """Per suffix: does the rendered prompt with its text re-tokenize to the same ids?"""
    texts = tokenizer.batch_decode(suffixes)
    head = tokenizer(problem.before_text, add_special_tokens=False)["input_ids"]
    tail = tokenizer(problem.after_text, add_special_tokens=False)["input_ids"]
    full = tokenizer(
        [problem.before_text + t + problem.after_text for t in texts], add_special_tokens=False
    )["input_ids"]
    return torch.tensor(
        [ids == head + s + tail for ids, s in zip(full, suffixes.tolist(), strict=True)]
    )


def initial_suffix(tokenizer: Any, problem: Problem, length: int, allowed: Tensor) -> Tensor:
    """`length` copies of the first of INIT_TOKENS that is an allowed token and whose repeat
    re-tokenizes in the prompt."""
    for text in INIT_TOKENS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and allowed[ids[0]]:
            suffix = torch.tensor([ids * length])
            if retokenizes(tokenizer, problem, suffix)[0]:
                return suffix[0]
    raise InputError(
        f"no initial suffix among {INIT_TOKENS!r} re-tokenizes in this prompt", field="suffix"
    )


@torch.no_grad()
def prefix_cache(model: Any, problem: Problem) -> DynamicCache:
    """The keys and values of the prompt before the suffix (the image and the query), one
    forward per query: every candidate shares them, so the scoring and gradient passes run
    only the suffix, the rest of the turn and the target. Qwen2-VL's M-RoPE offsets are kept
    by the model from this forward and applied to the positions after it."""
    device = next(model.parameters()).device
    ids = problem.before[None]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    inputs |= {key: types[None] for key, types in problem.token_types.items()}
    inputs |= problem.images
    cache = DynamicCache()
    model(
        **{k: v.to(device) for k, v in inputs.items()},
        **{_cache_kwarg(model): cache},
        logits_to_keep=1,
    )
    return cache


def _cache_kwarg(model: Any) -> str:
    """The forward's name for the KV cache: `cache` from transformers 5.x, before it
    `past_key_values` (the old name still works there, with a warning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _target_logits(model: Any, prefix: DynamicCache, problem: Problem, suffixes: Tensor) -> Tensor:
    """Logits (float32) at the positions that predict the target, for a batch of suffixes
    after the cached prefix. No attention mask is passed: every row is the same length, and
    the model then numbers the positions on from the cache (M-RoPE offsets included)."""
    device = next(model.parameters()).device
    n = suffixes.shape[0]
    ids = torch.cat(
        [suffixes, problem.after.expand(n, -1), problem.target.expand(n, -1)], dim=1
    ).to(device)
    cache = copy.deepcopy(prefix)
    cache.batch_repeat_interleave(n)
    kwargs = {_cache_kwarg(model): cache, "logits_to_keep": len(problem.target) + 1}
    logits = model(input_ids=ids, **kwargs).logits
    return logits[:, :-1].float()


def gradient(model: Any, prefix: DynamicCache, problem: Problem, suffix: Tensor) -> Tensor:
    """d target loss / d one-hot suffix (suffix_len x vocab).

    The hook adds (one_hot @ W - W[suffix]), which is exactly zero, to the embeddings of the
    suffix positions, so the forward is unchanged and the gradient reaches the one-hot (up
    to a constant factor on models that scale their embeddings)."""
    device = next(model.parameters()).device
    embed = model.get_input_embeddings()
    weight = embed.weight
    one_hot = F.one_hot(suffix.to(device), weight.shape[0]).to(weight.dtype).requires_grad_()
    n = len(suffix)

    def hook(_module: Any, _args: Any, out: Tensor) -> Tensor:
        delta = one_hot @ weight - weight[suffix.to(device)].detach()
        return torch.cat([out[:, :n] + delta, out[:, n:]], dim=1)

    handle = embed.register_forward_hook(hook)
    try:
        logits = _target_logits(model, prefix, problem, suffix[None])
    finally:
        handle.remove()
    loss = F.cross_entropy(logits[0], problem.target.to(device))
    (grad,) = torch.autograd.grad(loss, one_hot)
    return grad.float().cpu()


@torch.no_grad()
def score(
    model: Any, prefix: DynamicCache, problem: Problem, suffixes: Tensor, batch_size: int
) -> tuple[Tensor, Tensor]:
    """Target loss of each suffix and whether its greedy continuation is the target."""
    device = next(model.parameters()).device
    target = problem.target.to(device)
    losses, reached = [], []
    for start in range(0, len(suffixes), batch_size):
        chunk = suffixes[start : start + batch_size]
        logits = _target_logits(model, prefix, problem, chunk)
        per_token = F.cross_entropy(
            logits.transpose(1, 2), target.expand(len(chunk), -1), reduction="none"
        )
        losses.append(per_token.mean(dim=1).cpu())
        reached.append((logits.argmax(-1) == target).all(dim=1).cpu())
    return torch.cat(losses), torch.cat(reached)


def sample_swaps(
    suffix: Tensor, grad: Tensor, allowed: Tensor, topk: int, n: int, generator: torch.Generator
) -> Tensor:
    """`n` copies of `suffix`, each with one position set to one of that position's `topk`
    allowed tokens of most negative gradient, position and token drawn uniformly."""
    masked = grad.masked_fill(~allowed[: grad.shape[1]], float("inf"))
    k = min(topk, int(allowed.sum()))
    top = (-masked).topk(k, dim=1).indices
    positions = torch.randint(len(suffix), (n,), generator=generator)
    picks = torch.randint(k, (n,), generator=generator)
    out = suffix.expand(n, -1).clone()
    out[torch.arange(n), positions] = top[positions, picks]
    return out


def run_gcg(
    model: Any,
    processor: Any,
    problem: Problem,
    config: GCGConfig,
    *,
    seed: int,
    allowed: Tensor | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> GCGResult:
    """Search a suffix for one query. Deterministic for a seed: the candidate draws come from
    a generator seeded with `seed` (callers derive it from the run seed and the query id)."""
    config.check()
    tok = processor.tokenizer
    if allowed is None:
        allowed = allowed_tokens(tok, model.get_input_embeddings().weight.shape[0])
    generator = torch.Generator().manual_seed(seed)
    began, began_cpu = time.perf_counter(), time.process_time()
    suffix = initial_suffix(tok, problem, config.suffix_len, allowed)
    prefix = prefix_cache(model, problem)
    initial_loss, initial_reached = score(model, prefix, problem, suffix[None], 1)
    best = GCGResult(
        suffix_ids=suffix.tolist(),
        suffix=tok.decode(suffix),
        loss=float(initial_loss[0]),
        initial_loss=float(initial_loss[0]),
        forwards=2,
        reached=bool(initial_reached[0]),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        for step in range(1, config.steps + 1):
            if config.early_stop and best.reached:
                break
            grad = gradient(model, prefix, problem, suffix)
            best.forwards += 1
            best.backwards += 1
            pool = sample_swaps(suffix, grad, allowed, config.topk, config.candidates, generator)
            pool = pool[retokenizes(tok, problem, pool)]
            best.steps = step
            if len(pool):
                losses, reached = score(model, prefix, problem, pool, config.batch_size)
                best.forwards += len(pool)
                i = int(losses.argmin())
                suffix = pool[i]
                if float(losses[i]) < best.loss:
                    best.suffix_ids, best.suffix = suffix.tolist(), tok.decode(suffix)
                    best.loss, best.reached = float(losses[i]), bool(reached[i])
            best.losses.append(best.loss)
            if on_step is not None:
                on_step(step, best.loss)
    finally:
        for p in params:
            p.requires_grad_(True)
    best.seconds = time.perf_counter() - began
    best.cpu_seconds = time.process_time() - began_cpu
    return best
