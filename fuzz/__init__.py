"""Fuzzing of everything that reads what the exchange or the disk hands us (issue 11).

`fuzz.targets` holds the targets: a hypothesis strategy for hostile inputs and a property that must hold for
every one of them. tests/fuzz runs each target briefly and deterministically inside `make test`; `make fuzz`
(`python -m fuzz`) runs them at length with fresh random inputs, and, when atheris is installed, also feeds
coverage-guided bytes to the byte-level targets (`fuzz.atheris_run`). It prints how many inputs ran and how long.
"""
