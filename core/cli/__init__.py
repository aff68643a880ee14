"""The `depthbook` command line: one parser, one module per command.

`main` builds the parser and dispatches; `common` holds what the commands share (exit codes, the one-sentence
`UserError`, flag helpers). Each command module has `add_parser(subparsers)` and `run(args)`. The desktop app is
the default command; its flags are parsed here, and `gui.entry` runs it, so nothing here imports Qt.

The CLI is the top layer: it may import recording, analysis, storage, the feed and the market; only `sim`
imports the simulator.
"""
