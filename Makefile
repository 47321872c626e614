# One way to do each chore; CI (.ci/run) calls these same targets.

VENV := .venv
PY := $(VENV)/bin/python
# Pinned so that lint results do not change under us.
BUF := npx --yes @bufbuild/buf@1.75.0
# Lint only the folders that exist, so the targets work while the tree grows.
LINT_PATHS := $(wildcard sdk server runner tests scripts bench setup.py)

.PHONY: venv run test proto proto-check buf-lint buf-breaking buf-baseline lint bench

venv: $(VENV)/.installed

$(PY):
	python3 -m venv $(VENV)

# The stamp makes `make venv` cheap: it re-installs only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

run: venv
	$(VENV)/bin/runplane server start

# The Node worker example's packages, for its e2e test; installed only where node and npm
# exist (elsewhere that test skips, and fails under CI=true). The stamp is newer than the
# lock file until the lock file changes. No dependency needs its install script.
NODE_WORKER := examples/node-worker
NODE_WORKER_STAMP := $(NODE_WORKER)/node_modules/.installed
NODE_WORKER_DEPS := $(if $(and $(shell command -v node),$(shell command -v npm)),$(NODE_WORKER_STAMP))

$(NODE_WORKER_STAMP): $(NODE_WORKER)/package.json $(NODE_WORKER)/package-lock.json
	cd $(NODE_WORKER) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# pytest exits with 5 when it collects nothing; say so, since an empty run must not pass.
# An interrupt (Ctrl-C, or a time limit's SIGINT to the process group) reaches pytest, which
# prints its summary; the shell waits for that instead of dying at once (the trap), so that
# make waits too and the summary is printed before the caller moves on.
# Three workers: most tests wait on a server, a process or the network, so three share two
# cores well (on an idle 2-core machine: 4:41 with three, 5:50 with two).
# TEST_WORKERS=0 runs everything in this process (easier to debug).
TEST_WORKERS ?= 3

test: venv $(NODE_WORKER_DEPS)
	@echo '$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)'
	@trap : INT TERM; status=0; $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then \
		echo 'error: pytest collected no tests (exit code 5)' >&2; \
	fi; \
	exit $$status

proto: venv
	$(PY) scripts/gen_protos.py

proto-check: proto
	@changes=$$(git status --porcelain -- sdk/v1); \
	if [ -n "$$changes" ]; then \
		echo 'error: sdk/v1 differs from what the protos generate; run make proto and commit:' >&2; \
		echo "$$changes" >&2; \
		git --no-pager diff --stat -- sdk/v1 >&2; \
		git --no-pager diff -- sdk/v1 >&2; \
		exit 1; \
	fi
	@echo 'sdk/v1 matches the protos'

buf-lint:
	$(BUF) lint

# The contract as last published; buf-breaking fails on changes that would break its clients.
BUF_BASELINE := proto/baseline.binpb

buf-breaking:
	$(BUF) breaking --against $(BUF_BASELINE)

# Run on purpose, when a breaking change is intended (a new major version) or to publish
# the current contract as the new baseline; commit the result.
buf-baseline:
	$(BUF) build --exclude-source-info -o $(BUF_BASELINE)

lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	scripts/typecheck.sh

bench: venv
	$(PY) bench/rpc.py
