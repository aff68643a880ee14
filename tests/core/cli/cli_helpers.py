"""Running `depthbook` as a user does (a real subprocess) and checking the rule for user errors: one sentence on
stderr, the right exit status, never a traceback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Addresses nothing listens on: a command that got past its flags would fail on them, not hang.
NOWHERE = ("--ws-url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9")


def depthbook(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gui.entry", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def depthbook_many(argvs: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Several independent runs at once (each is a fresh interpreter; most of their time is start-up)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda argv: depthbook(*argv), argvs))


def assert_one_sentence(result: subprocess.CompletedProcess, status: int = 2, *fragments: str) -> str:
    """Exit `status`, exactly one line on stderr, starting "depthbook", containing each fragment; no traceback."""
    err = result.stderr
    assert "Traceback" not in err, err
    assert result.returncode == status, (result.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("depthbook"), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def depthbook_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """`depthbook argv` through the same entry point in this process, for cases refused before anything
    starts (a flag's value): milliseconds instead of an interpreter start each. Logging is left alone."""
    import contextlib
    import io
    from unittest import mock

    from core.cli.main import main

    def no_app(args) -> int:
        raise AssertionError(f"the app would have started for {argv}")

    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch("core.cli.main.setup_logging"),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            status = main(list(argv), run_app=no_app)
        except SystemExit as exc:
            status = exc.code
    return subprocess.CompletedProcess(argv, status, out.getvalue(), err.getvalue())


async def read_lines_until(stream: asyncio.StreamReader, predicate, timeout: float) -> list[str]:
    """A running `depthbook record`'s output lines up to the first for which `predicate` holds (AssertionError,
    with what it printed, if it exits first)."""
    lines: list[str] = []

    async def read() -> None:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("the recorder exited early:\n" + "".join(lines))
            lines.append(line)
            if predicate(line):
                return

    await asyncio.wait_for(read(), timeout)
    return lines
