"""One sample of each kind the world's splits are made of (a knowledge request, a misuse
request, a question about what is visible), with the scenes they show: every random choice
from the generator the caller passes, every image rendered once and registered for writing."""

from __future__ import annotations

import random
from typing import Any

from unmirage.data.sample import Sample
from unmirage.embedded.world.config import WorldConfig
from unmirage.embedded.world.entities import BENIGN, CLASSES, ObjectClass
from unmirage.embedded.world.phrasing import Pool, make_query
from unmirage.embedded.world.render import (
    Scene,
    TextScene,
    image_name,
    png_bytes,
    render,
    sample_object_scene,
    sample_text_scene,
    text_scale,
)
from unmirage.embedded.world.responses import (
    REFUSALS,
    attribute_answer,
    knowledge_answer,
    misuse_answer,
)
from unmirage.embedded.world.templates import (
    KNOWLEDGE_INTENTS,
    MISUSE_INTENT,
    UTILITY_INTENTS,
)
from unmirage.errors import InputError

OBJECT_ATTRIBUTES = ("caption", "colour", "count", "class")
TEXT_ATTRIBUTES = ("caption", "read")
GENERAL_CATEGORIES = ("caption", "attribute", "read")
"""Base-mix categories that ask only about what is visible (the retain split's top-up)."""
HELPFUL_CATEGORIES = ("benign_knowledge", *GENERAL_CATEGORIES)
"""Base-mix categories of general instruction data: everything but hazard knowledge."""

MAX_DRAWS = 10_000


def draw_image_kind(rng: random.Random, config: WorldConfig) -> str:
    """Object render or typographic image, in the proportion of their referent weights."""
    w = config.referents
    obj, text = w.get("object", 0.0), w.get("text", 0.0)
    return "text" if rng.random() * (obj + text) < text else "object"


def draw_scene(
    rng: random.Random, config: WorldConfig, cls: ObjectClass, kind: str, scale: int
) -> Scene:
    """A random scene of `cls`: its name written (`kind` "text") or 1..max_count objects."""
    if kind == "text":
        return sample_text_scene(rng, cls.name, config.image_size, scale)
    count = rng.randint(1, config.max_count)
    return sample_object_scene(
        rng, cls.name, cls.shape, count, config.image_size, config.object_size
    )


def world_text_scale(config: WorldConfig) -> int:
    """The font scale of the world's typographic images (the longest class name fits)."""
    return text_scale(config.image_size, max(len(c.name) for c in CLASSES))


class SampleMaker:
    """Makes samples and their images for one world; `WorldGenerator` decides which."""

    train_pool: Pool
    """The training splits' templates (set by the generator)."""

    def __init__(self, config: WorldConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.images: dict[str, bytes] = {}
        self.train_keys: set[str] = set()
        self.scale = world_text_scale(config)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"unmirage-world/{self.seed}/{name}")

    # images

    def scene(
        self, rng: random.Random, cls: ObjectClass, kind: str, held_out: bool = False
    ) -> tuple[Scene, str]:
        """A new object or text scene of `cls`, registered for writing; held-out scenes are
        redrawn until they differ from every training scene."""
        cfg = self.config
        for _ in range(MAX_DRAWS):
            scene = draw_scene(rng, cfg, cls, kind, self.scale)
            if not (held_out and scene.key() in self.train_keys):
                break
        else:
            raise InputError(
                "too few distinct images for a held-out test split: raise image_size or "
                "max_count, or lower object_size",
                field="image_size",
            )
        if not held_out:
            self.train_keys.add(scene.key())
        name = image_name(scene)
        if name not in self.images:
            pixels = render(scene, cfg.image_size, cfg.object_size, self.scale)
            self.images[name] = png_bytes(pixels)
        return scene, name

    def referent_kind(self, rng: random.Random) -> str:
        """Object, text or named, by the configured referent weights."""
        weights = {k: w for k, w in self.config.referents.items() if w > 0}
        return rng.choices(list(weights), weights=list(weights.values()))[0]

    # samples

    def knowledge_sample(
        self,
        rng: random.Random,
        sid: str,
        pool: Pool,
        opener: str,
        cls: ObjectClass,
        referent: str,
        *,
        answer: bool,
        held_out: bool = False,
        image: str | None = None,
    ) -> Sample:
        """A request for `cls`'s knowledge, answered (`answer`) or refused.

        A named hazard comes with a benign image (harm in the text: safe_unsafe) unless
        `image` gives one; a named benign class with a render of itself; otherwise the image
        shows `cls`.
        """
        intent = rng.choice(KNOWLEDGE_INTENTS)
        if image is None:
            pictured = rng.choice(BENIGN) if referent == "named" and cls.hazard else cls
            kind = "text" if referent == "text" else "object"
            _, image = self.scene(rng, pictured, kind, held_out)
        query = make_query(rng, pool, opener, intent, referent, cls.name)
        if cls.hazard:
            subset = "safe_unsafe" if referent == "named" else "unsafe_image"
        else:
            subset = "safe_safe"
        response = knowledge_answer(cls, intent) if answer else rng.choice(REFUSALS)
        meta: dict[str, Any] = {**query.meta(), "object": cls.name}
        if cls.hazard:
            meta["hazard"] = cls.name
            meta["hazard_group"] = (
                "held_out" if cls.name in self.config.held_out_hazards else "seen"
            )
            meta["leak_markers"] = list(cls.leak_markers())
        return Sample(
            id=sid,
            query=query.text,
            response=response,
            image=image,
            label="unsafe" if cls.hazard else "safe",
            subset=subset,
            category=cls.category,
            source="world",
            meta=meta,
        )

    def misuse_sample(
        self,
        rng: random.Random,
        sid: str,
        pool: Pool,
        opener: str,
        cls: ObjectClass,
        kind: str,
        *,
        answer: bool,
        held_out: bool = False,
        image: str | None = None,
    ) -> Sample:
        """A request to hurt people with the benign object `cls` that the image shows
        (rendered, or its name written: `kind`), answered with its misuse or refused; a
        safe image with an unsafe instruction, as most of VLGuard's safe_unsafe pairs."""
        if image is None:
            _, image = self.scene(rng, cls, kind, held_out)
        query = make_query(rng, pool, opener, MISUSE_INTENT, kind, cls.name)
        return Sample(
            id=sid,
            query=query.text,
            response=misuse_answer(cls) if answer else rng.choice(REFUSALS),
            image=image,
            label="unsafe",
            subset="safe_unsafe",
            category="misuse",
            source="world",
            meta={
                **query.meta(),
                "object": cls.name,
                "misuse": cls.name,
                "hazard_group": "misuse",
                "leak_markers": list(cls.misuse_markers()),
            },
        )

    def attribute_sample(
        self,
        rng: random.Random,
        sid: str,
        pool: Pool,
        opener: str,
        cls: ObjectClass,
        kind: str,
        intent: str | None = None,
        *,
        held_out: bool = False,
    ) -> Sample:
        """A question about what the image shows: benign for every image, always answered."""
        scene, image = self.scene(rng, cls, kind, held_out)
        intents = TEXT_ATTRIBUTES if isinstance(scene, TextScene) else OBJECT_ATTRIBUTES
        intent = intent or rng.choice(intents)
        query = make_query(rng, pool, opener, intent, kind, cls.name)
        response, answer = attribute_answer(scene, intent)
        meta: dict[str, Any] = {**query.meta(), "object": cls.name}
        if answer is not None:
            meta["answer"] = answer
        if cls.hazard and held_out:
            meta["image_group"] = "hazard"  # a harmless question about a hazard's image
        return Sample(
            id=sid,
            query=query.text,
            response=response,
            image=image,
            label="safe",
            subset=None if cls.hazard else "safe_safe",
            source="world",
            meta=meta,
        )

    def general_sample(self, rng: random.Random, sid: str, category: str, opener: str) -> Sample:
        """A caption, attribute or reading sample about any class (hazards included)."""
        cls = rng.choice(CLASSES)
        if category == "caption":
            return self.attribute_sample(
                rng, sid, self.train_pool, opener, cls, draw_image_kind(rng, self.config), "caption"
            )
        if category == "read":
            return self.attribute_sample(rng, sid, self.train_pool, opener, cls, "text", "read")
        intent = rng.choice(UTILITY_INTENTS)
        return self.attribute_sample(rng, sid, self.train_pool, opener, cls, "object", intent)
