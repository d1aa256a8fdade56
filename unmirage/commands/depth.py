"""`unmirage depth`: is the safety deep? The probes (`PROBES`) on models, over a world."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from unmirage.depth.knobs import DepthKnobs
from unmirage.depth.probes.base import PROBES
from unmirage.errors import InputError

HELP = f"probes of what models hold below their first answer ({', '.join(PROBES)})"


def _probe_list() -> str:
    """One entry per probe: its name, then its description, wrapped and indented."""
    entries = [
        textwrap.fill(
            probe.description,
            width=92,
            initial_indent=f"  {name:<9} ",
            subsequent_indent=" " * 12,
        )
        for name, probe in PROBES.entries().items()
    ]
    return ";\n".join(entries) + "."


DESCRIPTION = f"""\
Probes of whether a model's safety goes deeper than its first answer token, on the world's
exact facts (docs/depth.md):

{_probe_list()}

Give the base model with --base: it is run like the others and named the reference.
Writes OUT/depth.json (all numbers, keys in docs/depth.md) and the probes' figures (PNG),
all at once when everything has run.

examples:
  unmirage depth runs/default/sft runs/default/npo runs/default/rmu \\
      --base runs/default/base --world runs/default/world --out runs/default/depth
  unmirage depth models/sft --world worlds/smoke --relearn-steps 0 10 --skip probe --out d
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL_DIR", help="aligned model dirs")
    parser.add_argument("--base", help="base model directory: run too, the reference")
    parser.add_argument("--world", required=True, help="world directory (unmirage world --out)")
    parser.add_argument("--out", required=True, help="output directory")
    for probe in PROBES.entries().values():
        probe.add_arguments(parser)
    parser.add_argument("--skip", nargs="+", default=[], metavar="PROBE", help=", ".join(PROBES))
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def knobs_from(args: argparse.Namespace) -> DepthKnobs:
    return DepthKnobs(
        {name: probe.knobs_from(args) for name, probe in PROBES.entries().items()},
        skip=tuple(args.skip),
    )


def run(args: argparse.Namespace) -> int:
    from unmirage.depth.run import run_depth
    from unmirage.io import atomic_write_bytes, atomic_write_json, staged_dir

    if not args.models and not args.base:
        raise InputError("give at least one MODEL_DIR or --base", field="MODEL_DIR")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out), field="--out")
    knobs = knobs_from(args)
    knobs.validate()
    doc = run_depth(args.models, args.world, base=args.base, knobs=knobs, progress=not args.quiet)
    models = doc["models"]
    figures = [
        figure
        for name, probe in PROBES.entries().items()
        for figure in probe.figures({n: m[name] for n, m in models.items() if name in m})
    ]
    with staged_dir(out) as stage:
        for figure in figures:
            atomic_write_bytes(stage / figure.filename, figure.png)
        atomic_write_json(stage / "depth.json", doc)
    for name, m in models.items():
        lines = [name]
        for probe_name, probe in PROBES.entries().items():
            if probe_name in m:
                lines += probe.summary(m[probe_name])
        print("\n".join(lines))
    print(f"wrote {out}/depth.json" + "".join(f" and {f.filename}" for f in figures))
    return 0
