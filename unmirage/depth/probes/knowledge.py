"""A linear knowledge probe: can the hazard fact a query asks for be read off the hidden states?

Two labels per hazard query, both among the world's candidates: "fact", the fact it asks for
(which hazard, zorvan, krelith, ..., and which kind, steps, purpose or materials: twelve
classes in the default world, each with its own answer string), and "hazard", whose facts
it asks for (four classes). A multinomial logistic regression reads the hidden state at the
last prompt token (where the model decides what to say) of chosen layers; it is trained on
hazard queries of the training splits and scored on the test split's unsafe queries (new
images and phrasings). Layer 0 (the embedding of the last prompt token, the same token for
every query) can only predict the majority class and marks where decodability starts.

What it shows and what not: in this world the fact is a function of (hazard, kind), so the
probe cannot tell "knows the fact" from "recognised the hazard and the request"; what it can
show is whether alignment left the information the answer depends on in the residual stream
(SFT: expected) or removed it (what unlearning claims).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unmirage.checks import is_int, is_number
from unmirage.data.sample import Sample
from unmirage.depth.probes.base import Label, Probe, register, short_pct
from unmirage.depth.world import WorldData, subsample
from unmirage.errors import InputError

if TYPE_CHECKING:
    from torch import Tensor, nn

    from unmirage.data.images import Images
    from unmirage.report.document import Block


@dataclass(frozen=True)
class KnowledgeKnobs:
    """`layers`: hidden-state indices (0 = embeddings, n = last decoder layer; None: every
    other layer from 0, plus the last). `train_queries`: at most this many training queries
    (seeded). `l2`: ridge penalty of the logistic regression on standardised features (None:
    chosen per layer by 5-fold cross-validation on the training queries, never the test)."""

    layers: tuple[int, ...] | None = None
    train_queries: int = 600
    l2: float | None = None
    batch_size: int = 32
    seed: int = 0

    def validate(self) -> None:
        if self.layers is not None and (
            not self.layers or not all(is_int(x) and x >= 0 for x in self.layers)
        ):
            raise InputError("expected layer indices >= 0", field="--probe-layers")
        if not (is_int(self.train_queries) and self.train_queries >= 2):
            raise InputError(
                f"expected a number >= 2, got {self.train_queries!r}", field="--probe-queries"
            )
        if self.l2 is not None and not (is_number(self.l2) and self.l2 >= 0):
            raise InputError(f"expected a number >= 0, got {self.l2!r}", field="--probe-l2")
        if not (is_int(self.batch_size) and self.batch_size >= 1):
            raise InputError(f"expected a number >= 1, got {self.batch_size!r}", field="batch_size")


LABELS: dict[str, str] = {
    "fact": "the fact asked for: hazard x kind (steps, purpose, materials)",
    "hazard": "the hazard whose facts are asked for (its materials and steps are its own)",
}
L2_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0)
"""Ridge penalties tried by cross-validation on the training queries when `l2` is None."""
FOLDS = 5


def fact_label(sample: Sample) -> str | None:
    """ "zorvan/materials" for a hazard knowledge query, None for anything else."""
    hazard, intent = sample.meta.get("hazard"), sample.meta.get("intent")
    return f"{hazard}/{intent}" if hazard and intent else None


def label_of(sample: Sample, label: str) -> str:
    """The sample's class under `label` ("fact" or "hazard"); the sample has a fact label."""
    return str(fact_label(sample) if label == "fact" else sample.meta["hazard"])


def default_layers(n_layers: int) -> tuple[int, ...]:
    """Every other hidden-state index from the embeddings (0), plus the last (`n_layers`)."""
    return tuple(sorted({*range(0, n_layers + 1, 2), n_layers}))


def last_token_states(
    model: nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: Images,
    layers: Sequence[int],
    batch_size: int,
) -> dict[int, Tensor]:
    """Per layer, the (N, hidden) float64 states at each prompt's last token (right padding,
    so positions are those the model saw in training)."""
    import torch

    from unmirage.methods.losses import model_inputs
    from unmirage.models.encode import encode_prompts

    device = next(model.parameters()).device
    parts: dict[int, list[Tensor]] = {layer: [] for layer in layers}
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            enc = encode_prompts(
                processor, samples[start : start + batch_size], images, padding_side="right"
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            hidden = model(**model_inputs(enc), output_hidden_states=True).hidden_states
            if max(layers) >= len(hidden):
                raise InputError(
                    f"layer {max(layers)} does not exist (the model has hidden states 0.."
                    f"{len(hidden) - 1})",
                    field="--probe-layers",
                )
            last = enc["attention_mask"].sum(dim=1) - 1
            rows = torch.arange(len(last), device=device)
            for layer in layers:
                parts[layer].append(hidden[layer][rows, last].double().cpu())
    return {layer: torch.cat(p) for layer, p in parts.items()}


def fit_logistic(x: Tensor, y: Tensor, n_classes: int, l2: float) -> tuple[Tensor, Tensor, Tensor]:
    """Multinomial logistic regression by L-BFGS on standardised features (float64, full
    batch, deterministic): returns (weights, bias, (mean, std)) for `predict`."""
    import torch

    x = x.double()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-8)
    z = (x - mean) / std
    w = torch.zeros(z.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ w + b, y) + l2 * (w * w).sum() / 2
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach(), torch.stack([mean, std])


def predict(model: tuple[Tensor, Tensor, Tensor], x: Tensor) -> Tensor:
    w, b, (mean, std) = model
    return (((x.double() - mean) / std) @ w + b).argmax(dim=1)


def classifier_accuracy(
    x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, n_classes: int, l2: float
) -> float:
    """Held-out accuracy of a logistic regression fitted on the training features."""
    fitted = fit_logistic(x_train, y_train, n_classes, l2)
    return float((predict(fitted, x_test) == y_test).double().mean())


def choose_l2(x: Tensor, y: Tensor, n_classes: int, seed: int) -> float:
    """The `L2_GRID` penalty with the best mean accuracy over FOLDS seeded folds of the
    training queries (ties: the larger penalty, the simpler probe)."""
    import torch

    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    scores = {}
    for l2 in L2_GRID:
        accs = []
        for fold in folds:
            keep = torch.ones(len(y), dtype=torch.bool)
            keep[fold] = False
            accs.append(classifier_accuracy(x[keep], y[keep], x[fold], y[fold], n_classes, l2))
        scores[l2] = sum(accs) / len(accs)
    return max(L2_GRID, key=lambda l2: (scores[l2], l2))


def query_sets(world: WorldData, knobs: KnowledgeKnobs) -> tuple[list[Sample], list[Sample]]:
    """Labelled training and test queries. Training: the hazard queries of the knowledge
    split (if the world has one: the only split that shows the held-out hazards), base and
    safety_sft; every label of the test set must occur in training, or the classifier could
    never name it."""
    train = [
        *world.split("knowledge", optional=True),
        *world.split("base"),
        *world.split("safety_sft"),
    ]
    test = world.split("test")
    seen: set[tuple[str, str | None]] = set()
    labelled = []
    for s in train:
        key = (s.query, s.image)
        if fact_label(s) is not None and key not in seen:
            seen.add(key)
            labelled.append(s)
    # one query of every fact first: a held-out hazard's facts are asked only in the
    # knowledge split, by a few queries
    labelled = subsample(
        labelled, knobs.train_queries, f"unmirage-probe/{knobs.seed}", cover=fact_label
    )
    classes = sorted({str(fact_label(s)) for s in labelled})
    held = [s for s in test if fact_label(s) is not None]
    if len(classes) < 2 or not held:
        raise InputError(
            "the probe needs hazard queries of at least two facts in the training splits and "
            "hazard queries in the test split",
            field="meta.hazard",
        )
    missing = sorted({str(fact_label(s)) for s in held} - set(classes))
    if missing:
        raise InputError(
            f"test facts never seen in training: {', '.join(missing)}; raise --probe-queries",
            field="--probe-queries",
        )
    return labelled, held


def knowledge_probe(
    model: nn.Module,
    processor: Any,
    world: WorldData,
    images: Images,
    knobs: KnowledgeKnobs,
) -> dict[str, Any]:
    """Per label ("fact", "hazard"): the classifier's accuracy per layer on held-out hazard
    queries, with the chance (1 / classes) and majority-class rates of the test queries."""
    import torch

    knobs.validate()
    fit_on, held = query_sets(world, knobs)
    n_layers = int(model.config.get_text_config().num_hidden_layers)
    layers = knobs.layers if knobs.layers is not None else default_layers(n_layers)
    x_train = last_token_states(model, processor, fit_on, images, layers, knobs.batch_size)
    x_test = last_token_states(model, processor, held, images, layers, knobs.batch_size)
    out: dict[str, Any] = {"n_train": len(fit_on), "n_test": len(held), "labels": {}}
    for label, meaning in LABELS.items():
        classes = sorted({label_of(s, label) for s in fit_on})
        index = {c: i for i, c in enumerate(classes)}
        y_train = torch.tensor([index[label_of(s, label)] for s in fit_on])
        y_test = torch.tensor([index[label_of(s, label)] for s in held])
        counts = torch.bincount(y_test, minlength=len(classes))
        accuracy, penalties = {}, {}
        for layer in layers:
            l2 = knobs.l2
            if l2 is None:
                l2 = choose_l2(x_train[layer], y_train, len(classes), knobs.seed)
            penalties[str(layer)] = l2
            accuracy[str(layer)] = classifier_accuracy(
                x_train[layer], y_train, x_test[layer], y_test, len(classes), l2
            )
        out["labels"][label] = {
            "meaning": meaning,
            "classes": classes,
            "chance": 1.0 / len(classes),
            "majority": float(counts.max()) / len(held),
            "accuracy": accuracy,
            "l2": penalties,
        }
    return out


HEADLINE_LABELS = {
    "probe_fact_last": "probe: fact asked for, last layer",
    "probe_fact_chance": "probe: fact, chance",
    "probe_hazard_last": "probe: hazard, last layer",
    "probe_hazard_chance": "probe: hazard, chance",
}


class KnowledgeProbe(Probe[KnowledgeKnobs]):
    """Whether the hazard fact a query asks for can be read off the hidden states. Its name,
    "probe", is the key depth.json and metrics.json have always given it."""

    name = "probe"
    knobs = KnowledgeKnobs
    description = (
        "logistic regression on the hidden state at the last prompt token of chosen layers: "
        "which hazard fact (hazard x kind) and which hazard a query asks for, trained on the "
        "training splits' hazard queries, scored on the test split's"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        p = KnowledgeKnobs()
        parser.add_argument(
            "--probe-layers",
            type=int,
            nargs="+",
            metavar="L",
            help="hidden-state indices, 0 = embeddings (default: every other layer and the last)",
        )
        parser.add_argument(
            "--probe-queries",
            type=int,
            default=p.train_queries,
            help=f"training queries of the probe (default {p.train_queries})",
        )
        parser.add_argument(
            "--probe-l2", type=float, help="ridge penalty (default: cross-validated per layer)"
        )

    def knobs_from(self, args: argparse.Namespace) -> KnowledgeKnobs:
        return KnowledgeKnobs(
            layers=tuple(args.probe_layers) if args.probe_layers else None,
            train_queries=args.probe_queries,
            l2=args.probe_l2,
            seed=args.seed,
        )

    def check(self, world: WorldData, knobs: KnowledgeKnobs) -> None:
        query_sets(world, knobs)

    def run(
        self,
        model: nn.Module,
        processor: Any,
        images: Images,
        world: WorldData,
        knobs: KnowledgeKnobs,
        *,
        progress: bool,
    ) -> dict[str, Any]:
        return knowledge_probe(model, processor, world, images, knobs)

    def headline(self, block: Mapping[str, Any]) -> dict[str, float]:
        """Per label, the accuracy at the last layer measured and the chance rate."""
        out: dict[str, float] = {}
        for label, entry in (block.get("labels") or {}).items():
            if entry.get("accuracy"):
                last = max(entry["accuracy"], key=int)
                out[f"probe_{label}_last"] = entry["accuracy"][last]
                out[f"probe_{label}_chance"] = entry["chance"]
        return out

    def label(self, key: str) -> Label | None:
        text = HEADLINE_LABELS.get(key)
        return None if text is None else Label(text)

    def section(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Block]:
        from unmirage.report.document import Heading, Paragraph, Table
        from unmirage.report.values import pct

        out: list[Block] = [
            Heading("Knowledge probe", level=3),
            Paragraph(
                "Held-out accuracy of a linear probe on the hidden states of hazard queries "
                "that decodes which fact (or hazard) is asked for, per hidden-state layer (0: "
                "the embeddings); chance is one over the number of classes, majority the share "
                "of the most frequent class in the test queries."
            ),
        ]
        labels = sorted({label for p in blocks.values() for label in p["labels"]})
        for label in labels:
            entries = {n: p["labels"][label] for n, p in blocks.items() if label in p["labels"]}
            layers = sorted({int(k) for e in entries.values() for k in e["accuracy"]})
            rows = [
                [
                    name,
                    f"{pct(e['chance'])}",
                    f"{pct(e.get('majority'))}",
                    *(f"{pct(e['accuracy'].get(str(layer)))}" for layer in layers),
                ]
                for name, e in entries.items()
            ]
            meaning = next(iter(entries.values())).get("meaning", label)
            out += [
                Paragraph(f"Label: {label} ({meaning})."),
                Table(
                    ["model", "chance", "majority", *(f"layer {layer}" for layer in layers)], rows
                ),
            ]
        return out

    def summary(self, block: Mapping[str, Any]) -> list[str]:
        return [
            f"  probe {label}: "
            + ", ".join(f"L{k} {short_pct(v)}" for k, v in p["accuracy"].items())
            + f" (chance {short_pct(p['chance'])})"
            for label, p in block["labels"].items()
        ]


register(KnowledgeProbe())
