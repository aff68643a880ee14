"""`depthbook`: one parser for every command, and the dispatch.

With no command (or with only the app's flags) the desktop app runs. Every error a user can cause ends as one
sentence on stderr and exit status 2 (usage) or 1 (the command ran and failed), never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable

from core.cli import app, archive, export, order_flow, record, sim, stats
from core.cli.common import EXIT_OK, EXIT_USAGE, UserError
from core.logsetup import setup_logging

COMMANDS = {
    "app": app,
    "record": record,
    "stats": stats,
    "export": export,
    "order-flow": order_flow,
    "archive": archive,
    "sim": sim,
}
HEADLESS_COMMANDS = tuple(name for name in COMMANDS if name != "app")

AppRunner = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in the one-sentence style of every other error."""

    _given: tuple[str, ...] = ()  # the words being parsed: a flag it does not know is named before anything else

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        self._given = tuple(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse finds a missing required flag before an unknown one (`record --bogus` would be told to give
        # --symbols): the unknown flag is the mistake to name.
        known = self._option_string_actions
        unknown = [w for w in self._given if w.startswith("--") and w != "--" and w.split("=")[0] not in known]
        if unknown and "required" in message:
            message = f"unrecognized arguments: {' '.join(unknown)}"
        # One line, as every other error: the usage is one `--help` away.
        self.exit(EXIT_USAGE, f"{self.prog}: {message.rstrip('.')}; see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="depthbook",
        description="Watch and record Binance order books. With no command, the desktop app starts.",
        epilog="Run `depthbook COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def with_default_command(argv: list[str]) -> list[str]:
    """The app is the default: `depthbook --demo` is `depthbook app --demo`; `depthbook --help` stays the help."""
    if not argv:
        return ["app"]
    if argv[0] in COMMANDS or argv[0] in ("-h", "--help"):
        return argv
    return ["app", *argv]


def unknown_command(word: str) -> str:
    """The sentence for a first word that is no command (the app takes no words, only flags)."""
    close = difflib.get_close_matches(word, COMMANDS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"depthbook: unknown command {word!r}{hint}; the commands are {', '.join(COMMANDS)}."


def main(argv: list[str] | None = None, run_app: AppRunner | None = None) -> int:
    """Parse and run one command. `run_app` starts the desktop app (gui.entry passes it; core has no Qt)."""
    given = list(sys.argv[1:] if argv is None else argv)
    if given and not given[0].startswith("-") and given[0] not in COMMANDS:
        print(unknown_command(given[0]), file=sys.stderr)
        return EXIT_USAGE
    argv = with_default_command(given)
    args = build_parser().parse_args(argv)
    if args.command == "app":
        if run_app is None:
            print("depthbook: the desktop app is started by the `depthbook` command.", file=sys.stderr)
            return EXIT_USAGE
        return run_app(args)
    setup_logging(args.log_level)
    try:
        return COMMANDS[args.command].run(args)
    except UserError as exc:
        print(f"depthbook: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
