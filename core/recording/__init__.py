"""Recording: one top-N snapshot per recorded symbol per second, from live books into storage.

The `recorder` ticks on wall-clock seconds and writes each tick as one batch; the recording `session` builds
storage, manager and recorder from one frozen `config`, and starts and stops them in the right order for both
`depthbook record` and the desktop app.

It may import the feed, storage, analysis (the series row derived at record time) and the market.
"""
