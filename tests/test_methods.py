"""Unlearning objectives: hand-computed values on tiny tensors, then each method on a tiny
random LLaVA (forward, backward, cached reference, frozen layers)."""

from __future__ import annotations

import dataclasses
import math
import re
from types import SimpleNamespace

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from unmirage.errors import InputError
from unmirage.methods.base import METHODS, get_method
from unmirage.methods.losses import model_inputs
from unmirage.methods.npo import npo_loss
from unmirage.methods.rmu import capture, decoder_layers, rmu_distance
from unmirage.methods.simnpo import simnpo_loss
from unmirage.training.train import backpropagate

IMAGE_TOKEN = 99


# ---------------------------------------------------------------- tiny models and batches


class Bigram(nn.Module):
    """logits[t] = table[token t]: log-probabilities we can compute by hand."""

    def __init__(self, vocab: int = 6) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.table = nn.Parameter(torch.randn(vocab, vocab))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.table[input_ids])


def bigram_batch() -> dict[str, torch.Tensor]:
    """Two rows: a 3-token and a 1-token response, prompt and padding masked."""
    input_ids = torch.tensor([[0, 1, 2, 3, 4], [0, 5, 2, 0, 0]])
    labels = torch.tensor([[-100, -100, 2, 3, 4], [-100, -100, 2, -100, -100]])
    return {
        "input_ids": input_ids,
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
        "labels": labels,
        "index": torch.tensor([0, 1]),
    }


def bigram_token_logps(model: Bigram) -> list[list[float]]:
    """Response-token log-probs per row, computed from the table directly."""
    logp = torch.log_softmax(model.table.detach(), dim=-1)
    return [[logp[1, 2], logp[2, 3], logp[3, 4]], [logp[5, 2]]]


def tiny_llava(layers: int = 2) -> LlavaForConditionalGeneration:
    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=IMAGE_TOKEN, image_seq_length=4
    )
    return LlavaForConditionalGeneration(config).eval()


def llava_batch(seed: int, rows: int = 2, offset: int = 0) -> dict[str, torch.Tensor]:
    """[bos, 4 image tokens, prompt, response, right padding]; labels only on the response."""
    g = torch.Generator().manual_seed(seed)
    prompt, response, pad = 3, 4, 2
    ids, labels, attention = [], [], []
    for r in range(rows):
        n_resp = response - r  # rows of different lengths
        p = torch.randint(3, 90, (prompt,), generator=g).tolist()
        y = torch.randint(3, 90, (n_resp,), generator=g).tolist()
        padding = pad + (response - n_resp)
        ids.append([1] + [IMAGE_TOKEN] * 4 + p + y + [0] * padding)
        labels.append([-100] * (5 + prompt) + y + [-100] * padding)
        attention.append([1] * (5 + prompt + n_resp) + [0] * padding)
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(attention),
        "labels": torch.tensor(labels),
        "pixel_values": torch.randn(rows, 3, 16, 16, generator=g),
        "index": torch.arange(offset, offset + rows),
    }


FORGET = [llava_batch(1, offset=0), llava_batch(2, offset=2)]
RETAIN = [llava_batch(3), llava_batch(4)]
LOADERS = {"forget": lambda: iter(FORGET), "retain": lambda: iter(RETAIN)}


def step_batch(i: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    return {"forget": FORGET[i], "retain": RETAIN[i]}


def count_forwards(model: nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def freeze_outside(model: nn.Module, patterns: list[str]) -> set[str]:
    """What the training loop does with RMU's patterns; returns the trainable names."""
    kept = set()
    for name, param in model.named_parameters():
        param.requires_grad_(param.requires_grad and any(re.search(p, name) for p in patterns))
        if param.requires_grad:
            kept.add(name)
    return kept


# ---------------------------------------------------------------- formulas, by hand


def test_npo_loss_at_reference_is_2_over_beta_log2_and_pushes_logp_down():
    for beta in (0.1, 0.9, 2.0):
        logp = torch.tensor([-3.0, -7.5], requires_grad=True)
        loss = npo_loss(logp - logp.detach(), beta)
        assert torch.allclose(loss, torch.full((2,), 2 / beta * math.log(2)))
        loss.sum().backward()
        # d/dlogp = 2 * sigmoid(beta * 0) = 1 > 0: gradient descent lowers log p
        assert torch.allclose(logp.grad, torch.ones(2))


def test_npo_loss_hand_value_and_bounded():
    beta = 0.5
    value = npo_loss(torch.tensor([1.0, -40.0]), beta)
    assert value[0].item() == pytest.approx(4 * math.log(1 + math.exp(0.5)))
    assert value[1].item() == pytest.approx(4 * math.log(1 + math.exp(-20)), abs=1e-9)


def test_simnpo_loss_hand_value_and_margin_sign():
    mean_logp = torch.tensor([-2.0])
    expected = -(2 / 2.5) * math.log(1 / (1 + math.exp(-(-2.5 * -2.0 - 0.0))))
    assert simnpo_loss(mean_logp, 2.5, 0.0).item() == pytest.approx(expected)
    with_margin = -(2 / 2.5) * math.log(1 / (1 + math.exp(-(5.0 - 1.0))))
    assert simnpo_loss(mean_logp, 2.5, 1.0).item() == pytest.approx(with_margin)
    assert with_margin > expected


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_npo_sum_and_mean_normalisation_on_bigram(normalize):
    model = Bigram()
    batch = bigram_batch()
    method = get_method("npo", beta=0.5, normalize=normalize, gamma=0.0)
    method.setup(model, {"forget": lambda: iter([batch])})
    loss, _ = method.loss(model, {"forget": batch})
    assert loss.item() == pytest.approx(2 / 0.5 * math.log(2), abs=1e-6)

    ref = bigram_token_logps(model)
    with torch.no_grad():
        model.table.add_(torch.randn(6, 6, generator=torch.Generator().manual_seed(5)))
    new = bigram_token_logps(model)
    reduce = sum if normalize == "sum" else (lambda xs: sum(xs) / len(xs))
    ratios = [float(reduce(n) - reduce(r)) for n, r in zip(new, ref, strict=True)]
    expected = sum(-4 * math.log(1 / (1 + math.exp(0.5 * d))) for d in ratios) / 2
    loss, logs = method.loss(model, {"forget": batch})
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logs["forget_logratio"] == pytest.approx(sum(ratios) / 2, rel=1e-5)


def test_npo_sum_and_mean_differ_when_lengths_differ():
    model = Bigram()
    batch = bigram_batch()
    methods = {n: get_method("npo", normalize=n, gamma=0.0) for n in ("sum", "mean")}
    for m in methods.values():
        m.setup(model, {"forget": lambda: iter([batch])})
    with torch.no_grad():
        model.table.mul_(1.5)
    losses = {n: m.loss(model, {"forget": batch})[0].item() for n, m in methods.items()}
    assert losses["sum"] != pytest.approx(losses["mean"])


def test_simnpo_on_bigram_matches_hand_value():
    model = Bigram()
    batch = bigram_batch()
    method = get_method("simnpo", beta=2.0, margin=0.5, gamma=0.0)
    loss, _ = method.loss(model, {"forget": batch})
    means = [sum(row) / len(row) for row in bigram_token_logps(model)]
    expected = sum(-(2 / 2.0) * math.log(1 / (1 + math.exp(2.0 * m + 0.5))) for m in means) / 2
    assert loss.item() == pytest.approx(float(expected), rel=1e-5)


def test_graddiff_ascends_on_forget_and_descends_on_retain():
    model = Bigram()
    forget, retain = bigram_batch(), bigram_batch()
    retain["labels"] = torch.tensor([[-100, -100, -100, 3, 4], [-100, -100, 2, -100, -100]])
    logp = torch.log_softmax(model.table.detach(), dim=-1)
    nll_forget = -float(logp[1, 2] + logp[2, 3] + logp[3, 4] + logp[5, 2]) / 4
    nll_retain = -float(logp[2, 3] + logp[3, 4] + logp[5, 2]) / 3
    method = get_method("graddiff", gamma=0.5)
    loss, logs = method.loss(model, {"forget": forget, "retain": retain})
    assert loss.item() == pytest.approx(-nll_forget + 0.5 * nll_retain, rel=1e-5)
    assert logs["forget_nll"] == pytest.approx(nll_forget, rel=1e-5)

    forget_only = get_method("graddiff", gamma=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    forget_only.loss(model, {"forget": forget})[0].backward()
    optimizer.step()
    assert forget_only.loss(model, {"forget": forget})[1]["forget_nll"] > nll_forget


def test_rmu_distance_ignores_masked_positions_and_matches_hand_value():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    target = torch.tensor([1.0, 0.0])
    expected = ((0 + 4) / 2 + (4 + 16) / 2) / 2
    assert rmu_distance(hidden, target, mask).item() == pytest.approx(expected)
    changed = hidden.clone()
    changed[0, 2] = torch.tensor([-100.0, 55.0])
    assert rmu_distance(changed, target, mask).item() == pytest.approx(expected)
    assert rmu_distance(hidden, target, torch.zeros_like(mask)).item() == 0.0


def test_registry_and_bad_knobs():
    assert {"npo", "rmu", "graddiff", "simnpo"} <= set(METHODS)
    assert METHODS["rmu"].streams == ("forget", "retain")
    for name, knobs, field in [
        ("npo", {"normalize": "median"}, "normalize"),
        ("npo", {"beta": 0.0}, "beta"),
        ("simnpo", {"beta": float("nan")}, "beta"),
        ("graddiff", {"gamma": -1.0}, "gamma"),
        ("rmu", {"steer": "ten"}, "steer"),
        ("rmu", {"train_params": "attention"}, "train_params"),
        ("rmu", {"train_layers": 0}, "train_layers"),
    ]:
        with pytest.raises(InputError) as err:
            get_method(name, **knobs)
        assert err.value.field == field
    with pytest.raises(InputError) as err:
        get_method("rmu", layer=5).setup(tiny_llava(), LOADERS)
    assert err.value.field == "layer" and "2 decoder layers" in str(err.value)


# ---------------------------------------------------------------- on a tiny LLaVA


def test_decoder_layers_are_the_language_models_plain_and_under_peft():
    model = tiny_llava()
    names = [n for n, _ in decoder_layers(model)]
    assert names == ["model.language_model.layers.0", "model.language_model.layers.1"]
    lora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "down_proj"]))
    names = [n for n, _ in decoder_layers(lora)]
    assert names == [f"base_model.model.model.language_model.layers.{i}" for i in range(2)]


@pytest.mark.parametrize("name", ["npo", "simnpo", "graddiff", "rmu"])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_each_method_forward_backward_is_finite(name, alpha):
    model = tiny_llava()
    knobs = {"alpha": alpha} | ({"layer": 1, "steer": 4.0} if name == "rmu" else {})
    method = get_method(name, **knobs)
    if name == "rmu":
        freeze_outside(model, method.trainable_parameter_patterns(model))
    method.setup(model, LOADERS)
    model.train()
    loss, logs = method.loss(model, step_batch())
    loss.backward()
    assert math.isfinite(loss.item()) and logs["loss"] == pytest.approx(loss.item())
    assert all(math.isfinite(v) for v in logs.values())
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ["npo", "rmu", "sft"])
def test_backpropagating_term_by_term_gives_the_summed_losses_gradients(name):
    """The loop backpropagates an unlearning loss's terms one at a time (one graph alive):
    the gradients and the logged loss must be those of the whole loss."""
    grads, losses = [], []
    for split in (False, True):
        model = tiny_llava()
        knobs = {"layer": 1, "steer": 4.0} if name == "rmu" else {}
        method = get_method(name, **knobs)
        if name == "rmu":
            freeze_outside(model, method.trainable_parameter_patterns(model))
        batch = {"train": FORGET[0]} if name == "sft" else step_batch()
        method.setup(model, LOADERS)
        model.train()
        loss, logs = backpropagate(method, model, batch, torch.Tensor.backward, split=split)
        assert logs["loss"] == pytest.approx(loss.item())
        losses.append(loss.item())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert len(grads[0]) == len(grads[1]) > 0
    for whole, split in zip(*grads, strict=True):
        torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-7)


def test_npo_uses_cached_reference_no_extra_forwards():
    model = tiny_llava()
    calls = count_forwards(model)
    method = get_method("npo", beta=0.9)
    method.setup(model, LOADERS)
    assert calls[0] == len(FORGET)  # one pass over the forget set, once
    model.train()
    for i in range(2):
        method.loss(model, step_batch(i))
    assert calls[0] == len(FORGET) + 2 * 2  # per step: one forget + one retain forward
    assert model.training  # setup restored the mode it found


def test_npo_kl_reference_copy_is_exact_at_start_and_runs_once_per_step():
    model = tiny_llava()
    method = get_method("npo", alpha=1.0)
    method.setup(model, LOADERS)
    reference = method._reference.copy
    ref_calls = count_forwards(reference)
    _, logs = method.loss(model, step_batch())
    assert ref_calls[0] == 1 and logs["retain_kl"] == pytest.approx(0.0, abs=1e-6)
    assert all(not p.requires_grad for p in reference.parameters())


def test_npo_kl_under_peft_uses_the_disabled_adapter():
    model = get_peft_model(tiny_llava(), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    method = get_method("npo", alpha=1.0)
    method.setup(model, LOADERS)
    assert method._reference.copy is None
    _, logs = method.loss(model, step_batch())
    assert logs["retain_kl"] == pytest.approx(0.0, abs=1e-6)  # LoRA B = 0 at start
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    assert method.loss(model, step_batch())[1]["retain_kl"] > 1e-4


def test_npo_missing_row_in_cache_fails_loudly():
    model = tiny_llava()
    method = get_method("npo")
    method.setup(model, {"forget": lambda: iter(FORGET[:1])})
    with pytest.raises(RuntimeError, match="no cached reference"):
        method.loss(model, step_batch(1))


def test_one_step_on_npo_forget_term_lowers_forget_logprob():
    model = tiny_llava()
    method = get_method("npo", gamma=0.0)
    method.setup(model, LOADERS)
    before = method.loss(model, step_batch())[1]["forget_logp"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    method.loss(model, step_batch())[0].backward()
    optimizer.step()
    after = method.loss(model, step_batch())[1]["forget_logp"]
    assert after < before


def rmu_model(train_layers: int, train_params: str = "mlp"):
    model = tiny_llava()
    method = get_method(
        "rmu", layer=-1, steer=4.0, train_layers=train_layers, train_params=train_params
    )
    trainable = freeze_outside(model, method.trainable_parameter_patterns(model))
    method.setup(model, LOADERS)
    model.train()
    return model, method, trainable


@pytest.mark.parametrize(("train_layers", "first"), [(1, 1), (3, 0)])
def test_rmu_trains_only_its_layers_and_retain_term_is_zero_at_start(train_layers, first):
    model, method, trainable = rmu_model(train_layers)
    expected = {
        n
        for n, _ in model.named_parameters()
        if re.match(rf"model\.language_model\.layers\.[{first}-1]\.mlp\.", n)
    }
    assert trainable == expected and expected
    loss, logs = method.loss(model, step_batch())
    assert logs["retain_rep"] == 0.0  # frozen copies on the same input: exactly equal
    loss.backward()
    for name, param in model.named_parameters():
        assert (param.grad is not None) == (name in expected), name

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    optimizer.step()
    after = method.loss(model, step_batch())[1]
    assert after["retain_rep"] > 0 and after["forget_rmu"] < logs["forget_rmu"]


def test_rmu_all_params_of_layer_and_refuses_unfrozen_model():
    _, method, trainable = rmu_model(1, "all")
    assert any(".self_attn." in n for n in trainable)
    assert all(n.startswith("model.language_model.layers.1.") for n in trainable)
    loose = tiny_llava()
    method.setup(loose, LOADERS)
    with pytest.raises(RuntimeError, match="freeze every other parameter"):
        method.loss(loose, step_batch())


def test_rmu_forget_term_ignores_padding_and_uses_seeded_direction():
    model, method, _ = rmu_model(1)
    batch = step_batch()
    base = method.forget_loss(model, batch["forget"])[0].item()
    padded = dict(batch["forget"])
    ids = padded["input_ids"].clone()
    ids[padded["attention_mask"] == 0] = 57  # other padding tokens, still masked out
    padded["input_ids"] = ids
    assert method.forget_loss(model, padded)[0].item() == pytest.approx(base, abs=1e-6)
    other = get_method("rmu", layer=-1, steer=4.0, train_layers=1, seed=1)
    other.setup(model, LOADERS)
    assert torch.allclose(method._control.norm(), torch.tensor(4.0))
    assert not torch.allclose(method._control, other._control)


def test_rmu_under_peft_trains_only_lora_weights_of_its_layers():
    model = get_peft_model(tiny_llava(), LoraConfig(r=2, target_modules=["q_proj", "down_proj"]))
    method = get_method("rmu", layer=1, steer=4.0, train_layers=1)
    trainable = freeze_outside(model, method.trainable_parameter_patterns(model))
    assert trainable and all("language_model.layers.1.mlp.down_proj.lora_" in n for n in trainable)
    method.setup(model, LOADERS)
    model.train()
    loss, logs = method.loss(model, step_batch())
    loss.backward()
    assert logs["retain_rep"] == 0.0 and math.isfinite(loss.item())


def test_rmu_retain_term_is_zero_at_start_under_mixed_precision():
    model, method, _ = rmu_model(1)
    # as accelerate does for bf16: autocast around the model's forward only
    model.forward = torch.autocast("cpu", dtype=torch.bfloat16)(model.forward)
    loss, logs = method.loss(model, step_batch())
    assert logs["retain_rep"] == 0.0 and math.isfinite(loss.item())


def test_rmu_forget_forward_stops_at_its_layer_with_the_same_loss_and_gradients():
    model = tiny_llava()
    method = get_method("rmu", layer=0, steer=4.0, train_layers=1)
    freeze_outside(model, method.trainable_parameter_patterns(model))
    method.setup(model, LOADERS)
    model.train()
    head_calls = count_forwards(model.lm_head)
    above_calls = count_forwards(model.model.language_model.layers[1])
    batch = FORGET[0]
    loss = method.forget_loss(model, batch)[0]
    loss.backward()
    assert head_calls[0] == 0 and above_calls[0] == 0
    stopped = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    layer = decoder_layers(model)[0][1]
    with capture(layer) as seen:  # the whole forward, as before the early stop
        model(**model_inputs(batch))
    full = rmu_distance(seen["output"], method._control, batch["labels"] != -100)
    full.backward()
    assert above_calls[0] == 1 and torch.allclose(full, loss)
    for name, grad in stopped.items():
        assert torch.allclose(grad, dict(model.named_parameters())[name].grad), name


def test_every_knob_carries_its_help_text():
    """A method's knobs say what they do in their field (`--knob` and docs/methods.md)."""
    for name, cls in METHODS.entries().items():
        for knob in dataclasses.fields(cls):
            assert knob.metadata.get("help"), f"{name}.{knob.name} has no help text"
