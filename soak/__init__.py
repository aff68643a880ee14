"""The soak: the real recorder (or the desktop app) against the simulator for many minutes while faults arrive on
a schedule, then every stored snapshot checked against the truth and every second accounted for (`make soak`,
`python -m soak`). Never part of `make test`; tests/soak checks its parts on small inputs."""
