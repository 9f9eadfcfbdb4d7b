"""``edgekit`` entry point: argparse sub-commands, one module each, errors as one line.

Each module named in :data:`COMMANDS` defines ``register(subparsers) -> None`` that adds its parser and
sets ``func`` (``func(args) -> int``) as default. Heavy imports (torch, tensorflow) happen inside ``func``,
so ``edgekit profile`` works on a device with only numpy and one runtime.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edgekit import __version__
from edgekit.errors import EdgekitError
from edgekit.logs import debug_requested, filtered_native_stderr, quiet_third_party

COMMANDS: tuple[str, ...] = ("inspect", "profile", "export", "convert", "compare", "devices", "run", "search")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgekit",
        description="Compress, convert, run and profile PyTorch models for edge devices.",
    )
    parser.add_argument("--version", action="version", version=f"edgekit {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show full tracebacks, debug logs and third-party logs (logs alone: EDGEKIT_LOG=debug)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"edgekit.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = quiet_third_party(debug=args.debug)  # before a command loads torch / TensorFlow
    logging.basicConfig(
        level=logging.DEBUG if debug_requested() else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    with filtered_native_stderr(enabled=quiet):
        return _call(args)


def _call(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgekit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for users, the traceback with --debug
        if args.debug:
            raise
        kind = "error" if isinstance(exc, EdgekitError) else f"error ({type(exc).__name__})"
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"edgekit: {kind}: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
