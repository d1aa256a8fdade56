"""`unmirage base`: train the tiny base VLM of a world into a helpful-but-unsafe assistant."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train the world's tiny base VLM (LLaVA architecture) on its base split"
DESCRIPTION = """\
Build a LLaVA-architecture model (2-layer CLIP vision tower, 4-layer Llama, ~4M parameters),
a byte-level BPE tokenizer trained on the world's training text, a processor and a chat
template, and train it on the world's base.jsonl into a capable, unsafe assistant: it answers
questions about the image and knows the world's (fictional) hazard facts.

Recipe (defaults from the world's preset, see docs/models.md):
  1. vision warm-up: the tower, like a CLIP tower, is pretrained, here on fresh renders of
     the world's classes labelled with what they show (never a test image), then frozen;
  2. the projector's first layer whitens the tower's features (every direction of
     variation on unit scale);
  3. grounding (LLaVA's feature-alignment stage): projector + language model learn the
     base split's questions about what is visible (captions, colour, count, class, words);
  4. knowledge (worlds with knowledge_size > 0 only): projector + language model learn
     knowledge.jsonl, benign and hazard facts, all answered, as a language model's
     pretraining would;
  5. instruction tuning: projector + language model train on all of base.jsonl, with a
     share of knowledge.jsonl replayed (--knowledge-replay, default 0.2): a large language
     model keeps its pretraining through instruction tuning, a 4M one forgets it unless it
     sees it again (docs/world.md, "Stages of the base model").

The result in --out is a plain Hugging Face directory (model.safetensors, config, tokenizer,
processor, chat template) that AutoProcessor and AutoModelForImageTextToText load without
unmirage. Training checkpoints into --out/checkpoints; rerun the same command after an
interruption to resume.

examples:
  unmirage world --preset smoke --out worlds/smoke
  unmirage base --world worlds/smoke --out models/smoke-base       # seconds: for tests
  unmirage world --preset default --out worlds/default
  unmirage base --world worlds/default --out models/default-base   # 4.3 minutes, 2 idle cores
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", required=True, help="world directory (unmirage world --out)")
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument(
        "--steps", type=int, help="instruction-tuning optimizer steps (default: by preset)"
    )
    parser.add_argument(
        "--vision-steps", type=int, help="vision warm-up steps (default: by preset)"
    )
    parser.add_argument(
        "--vision-images",
        type=int,
        help="labelled renders in the vision warm-up corpus (default: by preset)",
    )
    parser.add_argument(
        "--grounding-steps",
        type=int,
        help="steps of the grounding stage before instruction tuning, 0 to skip "
        "(default: by preset)",
    )
    parser.add_argument(
        "--knowledge-steps",
        type=int,
        help="steps of the knowledge stage (knowledge.jsonl) before instruction tuning, 0 to "
        "skip (default: by preset)",
    )
    parser.add_argument(
        "--knowledge-replay",
        type=float,
        help="share of the instruction-tuning samples drawn from knowledge.jsonl, in [0, 1) "
        "(default: 0.2)",
    )
    parser.add_argument("--batch-size", type=int, help="batch size (default: by preset)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: by preset)")
    parser.add_argument(
        "--checkpoint-every", type=int, default=100, help="checkpoint interval in steps (0: none)"
    )
    parser.add_argument("--report-to", choices=("none", "tensorboard", "wandb"), default="none")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from unmirage.embedded.base import train_base

    recipe = train_base(
        args.world,
        args.out,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        report_to=args.report_to,
        progress=not args.quiet,
        steps=args.steps,
        vision_steps=args.vision_steps,
        vision_images=args.vision_images,
        grounding_steps=args.grounding_steps,
        knowledge_steps=args.knowledge_steps,
        knowledge_replay=args.knowledge_replay,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    if recipe is None:
        print(f"{args.out} already holds this base model; nothing to do")
    else:
        print(f"base model written to {Path(args.out)} ({recipe.steps} steps)")
    return 0
