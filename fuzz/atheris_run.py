"""Coverage-guided fuzzing (atheris, libFuzzer) of the byte-level targets: `python -m fuzz.atheris_run NAME
[libFuzzer flags]`, e.g. `-max_total_time=60`. `python -m fuzz` starts it when atheris is installed.

The code under test (core.market.wire, core.storage.snapshot) is instrumented, so libFuzzer steers its bytes
toward new branches of the parsers; each input goes through the same property as the hypothesis target of the
same name (fuzz.targets). A property that breaks makes libFuzzer print the input and stop with an error.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["core.market.wire", "core.storage.snapshot"]):
    import core.market.wire
    import core.storage.snapshot  # noqa: F401 (imported here to be instrumented)

from fuzz import targets

CHECKS = {"wire-bytes": targets.check_bytes, "snapshot-bytes": targets.check_stored_bytes}


def main() -> None:
    name, flags = sys.argv[1], sys.argv[2:]
    check = CHECKS[name]

    def one_input(data: bytes) -> None:
        check(data)

    atheris.Setup([sys.argv[0], *flags], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
