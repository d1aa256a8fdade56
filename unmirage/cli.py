"""The `unmirage` command: parses arguments and calls one function per subcommand.

Each subcommand lives in `unmirage/commands/<name>.py` and exposes `HELP` (one line),
`DESCRIPTION` (the --help text that teaches), `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from unmirage import __version__
from unmirage.errors import InputError
from unmirage.io import output_lock
from unmirage.threads import positive_int, threads_for_command

COMMANDS = (
    "audit",
    "world",
    "base",
    "forget-set",
    "align",
    "attack",
    "gcg",
    "eval",
    "depth",
    "reproduce",
)
THREADED = ("base", "forget-set", "align", "gcg", "eval", "depth", "reproduce")
"""Commands that run a model, and so take --threads."""

EPILOG = """\
typical path:
  unmirage reproduce --out runs/default          # the whole paper on the embedded world
  unmirage audit VLGUARD.json --out audit/       # which words predict refuse / answer
  unmirage forget-set --model BASE --data VLGUARD.json --out fs   # forget/retain sets
  unmirage attack --data test.jsonl --triggers audit/audit.json --k 3 --out attack.jsonl
  unmirage align --method npo --model BASE --forget F --retain R --out model-npo
  unmirage eval --model model-npo --data test.jsonl attack.jsonl --out eval-npo

Bad input ends with exit status 2 and one line naming the file, record and field.
"""


class OneLineParser(argparse.ArgumentParser):
    """An argument error is one line, like every other error (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="unmirage",
        description="See through the safety mirage of vision-language models, and fix it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unmirage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        module = importlib.import_module(f"unmirage.commands.{name.replace('-', '_')}")
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        if name in THREADED:
            p.add_argument(
                "--threads",
                type=positive_int,
                help="torch threads (default: OMP_NUM_THREADS, else this process's share of "
                "the CPUs it may use)",
            )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    out = getattr(args, "out", None)
    finished: list[int] = []
    try:
        with contextlib.ExitStack() as stack:
            if args.command in THREADED:
                stack.enter_context(threads_for_command(args.threads))
            if out is not None:
                stack.enter_context(output_lock(out))
            finished.append(int(args._run(args) or 0))
        return finished[0]
    except InputError as err:
        print(f"unmirage {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if finished:  # the output was complete: the interrupt only cut the clean-up after it
            return finished[0]
        print(f"unmirage {args.command}: interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The console command: `main`, then a Ctrl-C during the interpreter's shutdown (the
    output is complete by then) no longer turns the exit status into an interrupt's."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    entry()
