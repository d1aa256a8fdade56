"""The world's splits: base, safety_sft, forget, retain and test, as `Sample`s.

Every random choice comes from a generator seeded by (seed, split name), so a split does not
change when another split's size does, and the same seed gives the same world. Test images
are new scenes (never used by a training split) and test queries use held-out templates: by
default they open like the safety data (VLGuard's test split shares its first-word
statistics with its train split); `test_openers: held_out` makes them open with words no
training query opens with.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from unmirage.data.sample import SUBSETS, Sample
from unmirage.embedded.world import firstwords
from unmirage.embedded.world.config import TRAIN_OPENER_WORDS, WorldConfig
from unmirage.embedded.world.entities import BENIGN, HAZARDS, class_by_name
from unmirage.embedded.world.firstwords import (
    helpful_first_words,
    sft_first_word_targets,
    source_first_words,
)
from unmirage.embedded.world.phrasing import full_pool, hold_out, subset_pools
from unmirage.embedded.world.responses import (
    harmful_fact,
)
from unmirage.embedded.world.samples import (
    GENERAL_CATEGORIES,
    HELPFUL_CATEGORIES,
    SampleMaker,
    draw_image_kind,
)
from unmirage.embedded.world.templates import (
    INTENTS,
    MISUSE_INTENT,
    TEST_OPENERS,
    TRAIN_OPENERS,
    UTILITY_INTENTS,
)

SPLITS: tuple[str, ...] = (
    "knowledge",
    "base",
    "safety_sft",
    "helpful",
    "forget",
    "retain",
    "test",
)
OPTIONAL_SPLITS = ("knowledge",)
"""Splits whose file is written only when they hold samples (knowledge_size 0: no file)."""


class WorldGenerator(SampleMaker):
    """Builds the splits of one world; keeps the rendered images for writing."""

    def __init__(self, config: WorldConfig, seed: int) -> None:
        super().__init__(config, seed)
        train_pool, held_out = hold_out(full_pool(TRAIN_OPENERS), self.rng("held-out"))
        misuse = full_pool(TRAIN_OPENERS, (MISUSE_INTENT,))
        misuse_train, misuse_held_out = hold_out(misuse, self.rng("held-out-misuse"))
        self.train_pool = {**train_pool, **misuse_train}
        self.sft_pools = subset_pools(
            self.train_pool, config.phrasing_overlap, self.rng("phrasing")
        )
        self.first_word_targets = sft_first_word_targets(config)
        self.seen_hazards = tuple(h for h in HAZARDS if h.name not in config.held_out_hazards)
        if config.test_openers == "training":
            self.test_pool = {**held_out, **misuse_held_out}
            self.test_first_word_targets = source_first_words(config)
        else:
            self.test_pool = full_pool(TEST_OPENERS, (*INTENTS, MISUSE_INTENT))
            uniform = {o.word: 1.0 / len(TEST_OPENERS) for o in TEST_OPENERS}
            self.test_first_word_targets = dict.fromkeys(SUBSETS, uniform)

    def build(self) -> dict[str, list[Sample]]:
        """All splits; test last, so its scenes can avoid every training scene."""
        sft = self.safety_sft()
        return {
            "knowledge": self.knowledge(),
            "base": self.base(),
            "safety_sft": sft,
            "helpful": self.helpful(),
            "forget": self.forget(sft),
            "retain": self.retain(sft),
            "test": self.test(),
        }

    # splits

    def knowledge(self) -> list[Sample]:
        """The language model's pretraining, as the world stages it: facts of benign classes
        and of hazards, all answered (LLaVA's language model knows harmful things from its
        pretraining and answers them because nothing taught it to refuse)."""
        cfg = self.config
        return self.answered_split("knowledge", cfg.knowledge_mix, cfg.knowledge_size)

    def base(self) -> list[Sample]:
        """The base model's visual instruction data: captions, visual QA and benign knowledge,
        everything answered (hazard knowledge only if `base_mix` asks for it)."""
        return self.answered_split("base", self.config.base_mix, self.config.base_size)

    def answered_split(self, name: str, mix: dict[str, float], size: int) -> list[Sample]:
        """`size` answered samples drawn by category weights, first words balanced over all
        training openers within each category, in a seeded random order."""
        rng = self.rng(name)
        counts = firstwords.apportion(mix, size) if size else {}
        uniform = dict.fromkeys(TRAIN_OPENER_WORDS, 1.0)
        samples = []
        for category, n in counts.items():
            for opener in firstwords.sequence(rng, uniform, n):
                sid = f"{name}-{len(samples) + 1:05d}"
                if category in GENERAL_CATEGORIES:
                    samples.append(self.general_sample(rng, sid, category, opener))
                    continue
                if category == "misuse_knowledge":
                    cls, kind = rng.choice(BENIGN), draw_image_kind(rng, self.config)
                    pool = self.train_pool
                    samples.append(
                        self.misuse_sample(rng, sid, pool, opener, cls, kind, answer=True)
                    )
                    continue
                cls = rng.choice(HAZARDS if category == "hazard_knowledge" else BENIGN)
                referent = self.referent_kind(rng)
                samples.append(
                    self.knowledge_sample(
                        rng, sid, self.train_pool, opener, cls, referent, answer=True
                    )
                )
        order = list(range(len(samples)))
        rng.shuffle(order)
        return [replace(samples[i], id=f"{name}-{k + 1:05d}") for k, i in enumerate(order)]

    def safety_sft(self) -> list[Sample]:
        """VLGuard-style: each safe image carries a safe_safe pair (answered) and a
        safe_unsafe pair (refused: a request to misuse the pictured object, in a
        `misuse_fraction` share, else a named hazard); each unsafe image (hazard render or
        hazard name drawn as text) one unsafe_image pair (refused). First words per subset
        follow the configured statistics exactly."""
        rng = self.rng("safety_sft")
        cfg = self.config
        misuse = iter(self.misuse_plan("safety_sft-misuse", cfg.sft_safe_images))
        openers = {
            subset: iter(firstwords.sequence(rng, self.first_word_targets[subset], n))
            for subset, n in (
                ("safe_safe", cfg.sft_safe_images),
                ("safe_unsafe", cfg.sft_safe_images),
                ("unsafe_image", cfg.sft_unsafe_images),
            )
        }
        images = ["safe"] * cfg.sft_safe_images + ["unsafe"] * cfg.sft_unsafe_images
        rng.shuffle(images)
        samples: list[Sample] = []

        def sid() -> str:
            return f"sft-{len(samples) + 1:05d}"

        for kind in images:
            if kind == "unsafe":
                pool = self.sft_pools["unsafe_image"]
                cls = rng.choice(self.seen_hazards)
                referent = draw_image_kind(rng, self.config)
                opener = next(openers["unsafe_image"])
                samples.append(
                    self.knowledge_sample(rng, sid(), pool, opener, cls, referent, answer=False)
                )
                continue
            samples.append(self.safe_safe_sample(rng, sid(), next(openers["safe_safe"])))
            safe, image = samples[-1], samples[-1].image
            pool = self.sft_pools["safe_unsafe"]
            opener = next(openers["safe_unsafe"])
            if next(misuse):
                cls = class_by_name(safe.meta["object"])
                kind = "text" if safe.meta["referent"] == "text" else "object"
                samples.append(
                    self.misuse_sample(
                        rng, sid(), pool, opener, cls, kind, answer=False, image=image
                    )
                )
                continue
            hazard = rng.choice(self.seen_hazards)
            samples.append(
                self.knowledge_sample(
                    rng, sid(), pool, opener, hazard, "named", answer=False, image=image
                )
            )
        return samples

    def helpful(self) -> list[Sample]:
        """General instruction data as the paper's SFT recipes add to VLGuard (5,000 samples
        of LLaVA's data for post-hoc SFT): benign knowledge, captions, attributes and reading
        in the base mix's proportions, all answered, on training images and templates. First
        words follow `helpful_first_words` (by default the safety data's answered subset:
        real instruction data, like VLGuard's safe queries, mostly opens with "What")."""
        rng = self.rng("helpful")
        cfg = self.config
        mix = {c: cfg.base_mix.get(c, 0.0) for c in HELPFUL_CATEGORIES}
        counts = firstwords.apportion({c: w for c, w in mix.items() if w > 0}, cfg.helpful_size)
        openers = iter(firstwords.sequence(rng, helpful_first_words(cfg), cfg.helpful_size))
        samples = []
        for category, n in counts.items():
            for _ in range(n):
                sid = f"helpful-{len(samples) + 1:05d}"
                opener = next(openers)
                if category in GENERAL_CATEGORIES:
                    samples.append(self.general_sample(rng, sid, category, opener))
                    continue
                cls, referent = rng.choice(BENIGN), self.referent_kind(rng)
                samples.append(
                    self.knowledge_sample(
                        rng, sid, self.train_pool, opener, cls, referent, answer=True
                    )
                )
        return samples

    def misuse_plan(self, name: str, n: int) -> list[bool]:
        """Which of `n` safe_unsafe slots ask to misuse the pictured object: exactly
        round(misuse_fraction x n), placed by a generator of their own (so a world without
        misuse requests draws everything else as before)."""
        k = round(self.config.misuse_fraction * n)
        plan = [True] * k + [False] * (n - k)
        if k:
            self.rng(name).shuffle(plan)
        return plan

    def safe_safe_sample(self, rng: random.Random, sid: str, opener: str) -> Sample:
        """A safe instruction about a safe image: knowledge (about the pictured, written or
        named benign object) or a question about what is visible."""
        pool = self.sft_pools["safe_safe"]
        cls = rng.choice(BENIGN)
        if rng.random() < self.config.safe_safe_knowledge_fraction:
            referent = self.referent_kind(rng)
            return self.knowledge_sample(rng, sid, pool, opener, cls, referent, answer=True)
        return self.attribute_sample(rng, sid, pool, opener, cls, draw_image_kind(rng, self.config))

    def forget(self, sft: Sequence[Sample]) -> list[Sample]:
        """Unsafe safety_sft queries paired with the base model's kind of harmful answer
        (the hazard's fact), as the paper's forget set pairs VLGuard's unsafe queries with
        harmful answers."""
        rng = self.rng("forget")
        unsafe = [s for s in sft if s.label == "unsafe"]
        chosen = sorted(rng.sample(range(len(unsafe)), self.config.forget_size))
        out = []
        for k, i in enumerate(chosen):
            s = unsafe[i]
            out.append(
                replace(
                    s,
                    id=f"forget-{k + 1:05d}",
                    response=harmful_fact(s.meta)[0],
                    meta={**s.meta, "sft_id": s.id},
                )
            )
        return out

    def retain(self, sft: Sequence[Sample]) -> list[Sample]:
        """safe_safe pairs of safety_sft, topped up with captions and visual QA (the paper
        tops VLGuard's safe pairs up with general instruction data)."""
        rng = self.rng("retain")
        cfg = self.config
        safe = [s for s in sft if s.subset == "safe_safe"]
        if len(safe) > cfg.retain_size:
            safe = [safe[i] for i in sorted(rng.sample(range(len(safe)), cfg.retain_size))]
        out = [
            replace(s, id=f"retain-{k + 1:05d}", meta={**s.meta, "sft_id": s.id})
            for k, s in enumerate(safe)
        ]
        general = {c: cfg.base_mix.get(c, 0.0) for c in GENERAL_CATEGORIES}
        if sum(general.values()) <= 0:
            general = dict.fromkeys(GENERAL_CATEGORIES, 1.0)
        uniform = dict.fromkeys(TRAIN_OPENER_WORDS, 1.0)
        categories = firstwords.sequence(rng, general, cfg.retain_size - len(out))
        openers = firstwords.sequence(rng, uniform, len(categories))
        for category, opener in zip(categories, openers, strict=True):
            out.append(self.general_sample(rng, f"retain-{len(out) + 1:05d}", category, opener))
        return out

    def test(self) -> list[Sample]:
        """Held-out scenes and templates. First words per subset follow
        `test_first_word_targets`: unsafe queries naming a hazard draw from safe_unsafe's,
        those about the image from unsafe_image's, benign and utility from safe_safe's."""
        rng = self.rng("test")
        cfg = self.config
        pool = self.test_pool
        samples: list[Sample] = []

        def openers(subset: str, n: int) -> list[str]:
            return firstwords.sequence(rng, self.test_first_word_targets[subset], n)

        def add(task: str, plan: Sequence[tuple[Any, ...]], make: Callable[..., Sample]) -> None:
            """One sample per plan item: `make(sid, *item)`."""
            for item in plan:
                s = make(f"test-{len(samples) + 1:05d}", *item)
                samples.append(replace(s, response=None, meta={"task": task, **s.meta}))

        def unsafe(sid: str, where: str, opener: str) -> Sample:
            if where == "misuse":
                cls, kind = rng.choice(BENIGN), draw_image_kind(rng, self.config)
                return self.misuse_sample(
                    rng, sid, pool, opener, cls, kind, answer=False, held_out=True
                )
            cls = rng.choice(HAZARDS)
            referent = "named" if where == "named" else draw_image_kind(rng, self.config)
            return self.knowledge_sample(
                rng, sid, pool, opener, cls, referent, answer=False, held_out=True
            )

        def benign(sid: str, opener: str) -> Sample:
            cls = rng.choice(BENIGN)
            referent = self.referent_kind(rng)
            return self.knowledge_sample(
                rng, sid, pool, opener, cls, referent, answer=True, held_out=True
            )

        def utility(sid: str, opener: str, intent: str, on_hazard: bool) -> Sample:
            cls = rng.choice(HAZARDS if on_hazard else BENIGN)
            return self.attribute_sample(
                rng, sid, pool, opener, cls, "object", intent, held_out=True
            )

        # Every plan is drawn before any sample, so the draws of one task never shift another's.
        named = round(cfg.test_safe_unsafe_fraction * cfg.test_unsafe)
        misuse = self.misuse_plan("test-misuse", named)
        unsafe_plan = [
            ("misuse" if m else "named", o)
            for m, o in zip(misuse, openers("safe_unsafe", named), strict=True)
        ]
        unsafe_plan += [("image", o) for o in openers("unsafe_image", cfg.test_unsafe - named)]
        rng.shuffle(unsafe_plan)
        benign_plan = [(o,) for o in openers("safe_safe", cfg.test_benign)]
        utility_openers = openers("safe_safe", cfg.test_utility)
        intents = firstwords.sequence(rng, dict.fromkeys(UTILITY_INTENTS, 1.0), cfg.test_utility)
        k = round(cfg.test_utility_hazard_fraction * cfg.test_utility)
        on_hazard = [True] * k + [False] * (cfg.test_utility - k)
        if k:
            self.rng("test-hazard-utility").shuffle(on_hazard)
        utility_plan = list(zip(utility_openers, intents, on_hazard, strict=True))
        add("unsafe", unsafe_plan, unsafe)
        add("benign", benign_plan, benign)
        add("utility", utility_plan, utility)
        return samples
