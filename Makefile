# Two commands set everything up: `make run` and `make test`.
# Each creates .venv when missing, installs the system packages Qt needs (apt, as root),
# installs the project with its extras, then runs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.depthbook-installed
# Qt offscreen (tests) and a real window (xcb, Xvfb for screenshots); see the team's reference/platform-notes.md (outside this repository).
APT_QT := libglib2.0-0 libgl1 libegl1 libxkbcommon0 libfontconfig1 fonts-dejavu-core libdbus-1-3
APT_XCB := libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
           libxcb-render-util0 libxcb-shape0
APT_XVFB := xvfb xauth
# The order book's sides are C (core/market/_book_side.c), compiled when the project is installed.
APT_BUILD := gcc libc6-dev python3-dev
APT_BASE := $(APT_QT) $(APT_BUILD)
ARGS ?=

.PHONY: run demo test test-realtime lint bench sysdeps venv sim screenshots clean

run: APT = $(APT_BASE) $(APT_XCB)
run: sysdeps venv
	$(VENV)/bin/depthbook $(ARGS)

demo: APT = $(APT_BASE) $(APT_XCB)
demo: sysdeps venv
	$(VENV)/bin/depthbook --demo $(ARGS)

sim: APT = $(APT_BUILD)
sim: sysdeps venv
	$(VENV)/bin/depthbook sim $(ARGS)

test: APT = $(APT_BASE)
test: sysdeps venv lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 $(ARGS)

# The tests marked `realtime` (deselected by `make test`): the contract's scenarios on the wall clock.
test-realtime: APT = $(APT_BASE)
test-realtime: sysdeps venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m realtime $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: APT = $(APT_BASE)
bench: sysdeps venv
	$(PY) -m pip install -q -e '.[test,bench,parquet]'
	QT_QPA_PLATFORM=offscreen $(PY) -m bench $(ARGS)

# Long fuzz runs of the wire parser, the snapshot decoder and the book sync (`make test` runs each target
# briefly): FUZZ_SECONDS in all (default 600) or FUZZ_EXAMPLES per run; prints inputs and time, exit 1 on a
# failure. atheris (coverage-guided, binary wheel) is installed when it can be; else hypothesis alone runs.
.PHONY: fuzz
fuzz: APT = $(APT_BUILD)
fuzz: sysdeps venv
	@$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q atheris || echo "atheris unavailable: hypothesis only"
	$(PY) -m fuzz $(ARGS)

# The soak (issue 11): `depthbook record` (SOAK_APP=1: the desktop app under Xvfb) against the simulator with
# SOAK_SYMBOLS symbols (default 50) for SOAK_MINUTES (default 30) while faults arrive on a schedule; prints its
# figures and writes them to SOAK_REPORT (default soak-report.json); exit 1 if a stored snapshot differs from the
# simulator's truth, a missing second is unexplained or the recorder crashed. Never part of `make test`.
SOAK_MINUTES ?= 30
SOAK_SYMBOLS ?= 50
SOAK_REPORT ?= soak-report.json
SOAK_APP ?=
.PHONY: soak
soak: APT = $(APT_BASE) $(if $(SOAK_APP),$(APT_XCB) $(APT_XVFB))
soak: sysdeps venv
	@$(PY) -c "import psutil" 2>/dev/null || $(PY) -m pip install -q -e '.[soak]'
	$(PY) -m soak --minutes $(SOAK_MINUTES) --symbols $(SOAK_SYMBOLS) --report $(SOAK_REPORT) $(if $(SOAK_APP),--app) $(ARGS)

screenshots: APT = $(APT_BASE) $(APT_XCB) $(APT_XVFB)
screenshots: sysdeps venv
	rm -rf /tmp/depthbook-screenshots-db /tmp/depthbook-screenshots-home
	# A throwaway home: the default layout, not whatever this machine's user saved.
	HOME=/tmp/depthbook-screenshots-home xvfb-run -a -s "-screen 0 1440x900x24" \
	  $(VENV)/bin/depthbook --demo --db /tmp/depthbook-screenshots-db \
	  --record BTCUSDT,ETHUSDT,SOLUSDT,usdm/BTCUSDT --screenshot docs/screenshots --screenshot-after 45

APT ?= $(APT_BASE)
sysdeps:
	@missing=""; for p in $(APT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing the system packages Depthbook needs:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "Depthbook needs these system packages (Qt, a C compiler); run:  sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi

venv: $(STAMP)

# The C modules (the book's sides, the frame readers, the series row, the heatmap bins) are built by the install:
# build again when their source changes.
$(STAMP): pyproject.toml $(wildcard core/*/*.c)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache core/market/*.so
