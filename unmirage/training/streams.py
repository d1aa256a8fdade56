"""A method's training data: each stream's file(s) read, mixed by weight, with their images.

`align` reads every stream a method names (`Method.streams`) through `load_streams`; each
file's images resolve against its own root (`unmirage.data.images.root_for`), so VLGuard and an
instruction set whose images live elsewhere mix in one stream.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.checks import is_number
from unmirage.data.images import RootRule, root_for
from unmirage.data.loaders import read_data
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.methods.base import Method
from unmirage.provenance import sha256_file

STREAM_OPTIONS = {"train": "--data", "forget": "--forget", "retain": "--retain"}
"""The command-line option that names each data stream a method reads."""


DataFiles = str | Path | Sequence[str | Path]


def load_streams(
    method: type[Method],
    files: Mapping[str, DataFiles | None],
    image_root: RootRule,
    *,
    weights: Sequence[float] | None = None,
    seed: int = 0,
) -> tuple[dict[str, list[Sample]], dict[str, Any]]:
    """Read each stream's file(s); return the samples and their provenance.

    A stream may come from several files (e.g. VLGuard plus general instruction data for the
    paper's post-hoc SFT); `weights` then say how often each file's samples are taken (see
    `mix`). Only the first stream of a method may have several files.
    """
    for stream, option in STREAM_OPTIONS.items():
        if files.get(stream) is not None and stream not in method.streams:
            wanted = " and ".join(STREAM_OPTIONS[s] for s in method.streams)
            raise InputError(f"method '{method.name}' reads {wanted}, not {option}", field=option)
    for stream in method.streams:
        if not files.get(stream):
            option = STREAM_OPTIONS[stream]
            raise InputError(f"method '{method.name}' needs {option} FILE", field=option)
    data: dict[str, list[Sample]] = {}
    info: dict[str, Any] = {}
    for stream in method.streams:
        given = files[stream]
        paths = [Path(given)] if isinstance(given, (str, Path)) else [Path(p) for p in given]
        stream_weights = (
            list(weights) if weights is not None and stream == method.streams[0] else []
        )
        if stream_weights and len(stream_weights) != len(paths):
            raise InputError(
                f"{len(stream_weights)} weights for {len(paths)} files",
                field="--data-weights",
            )
        parts: list[list[Sample]] = []
        records = []
        for path in paths:
            loaded = read_data(path, image_root=root_for(image_root, path))
            samples = loaded.samples
            for i, s in enumerate(samples):
                if not s.response:
                    raise InputError(
                        "a training sample needs a response",
                        file=str(path),
                        record=s.id or i,
                        field="response",
                    )
            parts.append(samples)
            records.append(
                {
                    "file": str(path),
                    "sha256": sha256_file(path),
                    "samples": len(samples),
                    "image_root": str(loaded.image_root),
                }
            )
        if len(parts) == 1 and not stream_weights:
            data[stream], info[stream] = parts[0], records[0]
            continue
        chosen = stream_weights or [1.0] * len(parts)
        data[stream] = mix(parts, chosen, seed=seed)
        info[stream] = {
            "files": [{**r, "weight": w} for r, w in zip(records, chosen, strict=True)],
            "samples": len(data[stream]),
        }
    return data, info


def mix(parts: Sequence[Sequence[Sample]], weights: Sequence[float], *, seed: int) -> list[Sample]:
    """One training set from several: part i is taken weights[i] times (2 = every sample
    twice, 0.5 = a seeded half of them), so weights of 1 concatenate the files."""
    out: list[Sample] = []
    for i, (part, weight) in enumerate(zip(parts, weights, strict=True)):
        if not is_number(weight) or weight < 0:
            raise InputError(f"expected a weight >= 0, got {weight!r}", field="--data-weights")
        whole, fraction = divmod(float(weight), 1.0)
        out += list(part) * int(whole)
        extra = round(fraction * len(part))
        picked = random.Random(f"unmirage-mix/{seed}/{i}").sample(range(len(part)), extra)
        out += [part[j] for j in sorted(picked)]
    if not out:
        raise InputError("the weights select no sample", field="--data-weights")
    return out
