"""`unmirage world` (not built yet)."""

from __future__ import annotations

import argparse

HELP = "(world: not built yet)"
DESCRIPTION = HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output path")


def run(args: argparse.Namespace) -> int:
    raise SystemExit("unmirage world: not built yet")
