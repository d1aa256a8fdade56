"""Where each stage finds its inputs: the embedded world and base model (built as cached
stages) or the user's real model and files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unmirage.data.images import ImageRoot, RootRule, root_for
from unmirage.data.loaders import read_data
from unmirage.embedded.presets import PRESETS, load_world_config
from unmirage.embedded.world import build_world
from unmirage.errors import InputError
from unmirage.provenance import sha256_file
from unmirage.reproduce.config import INPUTS, ReproduceConfig
from unmirage.reproduce.stages import StageRunner


@dataclass
class Sources:
    """Where each stage finds its inputs, for one of the two modes."""

    safety: Path
    test: Path
    forget: Path | None
    retain: Path | None
    image_roots: RootRule
    """Each input's image root, by file (`unmirage.data.images.root_for`)."""
    test_root: Path
    """The test file's image root, which its attacked copies share."""
    base: str
    helpful: Path | None = None
    base_data: Path | None = None
    knowledge_data: Path | None = None
    pre_instruction: str | None = None

    def data(self, name: str) -> Path:
        path = {
            "safety": self.safety,
            "helpful": self.helpful,
            "base": self.base_data,
            "knowledge": self.knowledge_data,
        }[name]
        assert path is not None, name
        return path


def file_key(path: Path | None) -> str | None:
    return None if path is None else sha256_file(path)


def embedded_sources(
    config: ReproduceConfig, runner: StageRunner, progress: bool
) -> tuple[Sources, dict[str, Any]]:
    from unmirage.embedded.base import train_base

    world_config = load_world_config(config.preset, config.world_config, config.bias_from)
    bias_sha256 = None if config.bias_from is None else sha256_file(config.bias_from)
    world = runner.run(
        "world",
        {"preset": config.preset, "seed": config.seed, "config": world_config.to_dict()},
        lambda path: build_world(
            world_config, config.seed, path, preset=config.preset, bias_sha256=bias_sha256
        ),
    )
    base = runner.run(
        "base",
        {
            "world": world,
            "seed": config.seed,
            "recipe": dataclasses.asdict(PRESETS[config.preset].base),
        },
        lambda path: train_base(
            world.path,
            path / "model",
            seed=config.seed,
            progress=progress,
            pre_instruction=path / "pre_instruction",
        ),
    )
    sources = Sources(
        safety=world.path / "safety_sft.jsonl",
        test=world.path / "test.jsonl",
        forget=world.path / "forget.jsonl",
        retain=world.path / "retain.jsonl",
        image_roots=world.path,
        test_root=world.path,
        base=str(base.path / "model"),
        helpful=world.path / "helpful.jsonl",
        base_data=world.path / "base.jsonl",
        knowledge_data=_present(world.path / "knowledge.jsonl"),
        pre_instruction=str(base.path / "pre_instruction"),
    )
    return sources, {"world": world, "base": base}


def _present(path: Path) -> Path | None:
    return path if path.is_file() else None


def real_sources(config: ReproduceConfig) -> Sources:
    """The user's files; each input's images resolve against the root `--image-root` gives its
    name (or every input), else against the file's own directory, as in `align`."""
    assert config.safety_data is not None and config.test_data is not None
    files = {name: getattr(config, field) for name, field in INPUTS.items()}
    roots = {
        str(Path(path)): str(root)
        for name, path in files.items()
        if path is not None and (root := root_for(config.image_root, name)) is not None
    }
    test = Path(config.test_data)
    return Sources(
        safety=Path(config.safety_data),
        test=test,
        forget=Path(config.forget) if config.forget else None,
        retain=Path(config.retain) if config.retain else None,
        image_roots=roots,
        test_root=root_for(config.image_root, "test") or test.parent,
        base=str(config.model),
        helpful=Path(config.helpful_data) if config.helpful_data else None,
    )


def check_first_images(config: ReproduceConfig, sources: Sources) -> None:
    """Find the first image of each real input before any stage runs, so a wrong root fails
    in seconds with the file and the option to fix, not after hours of the stages before it."""
    for name, field in INPUTS.items():
        if getattr(config, field) is not None:
            path = Path(getattr(config, field))
            _check_first_image(path, root_for(sources.image_roots, path), name)


def _check_first_image(path: Path, root: Path | None, name: str) -> None:
    loaded = read_data(path, image_root=root, check_images=False)
    first = next((s for s in loaded.samples if s.image), None)
    if first is None or first.image is None or loaded.image_root is None:
        return
    try:
        ImageRoot(loaded.image_root).resolve(first.image, file=str(path), record=first.id)
    except InputError as err:
        raise InputError(
            f"{err.message}; give --image-root {name}=DIR",
            file=err.file,
            record=err.record,
            field=err.field,
        ) from None
