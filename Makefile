# The two commands of the README: `make demo` and `make test`. Everything else is their parts.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-scale bench-micro bench-reference axe-core install translations extract-messages system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) translations system-deps

# pysaml2 signs and verifies with the xmlsec1 program (Debian package xmlsec1); the browser tests
# drive Debian's Chromium; the captcha speaks its digits with espeak-ng. Installed when missing (as root), else the exact command is printed.
SYSTEM_PACKAGES ?= xmlsec1 espeak-ng
system-deps:
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing -- run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

# Compiled catalogues are build output (git-ignored); the .po files are the source.
translations: $(STAMP)
	$(BIN)/pybabel compile -d idp/translations
	$(BIN)/pybabel compile -d relying_parties/masar/translations
	$(BIN)/pybabel compile -d relying_parties/saml_sp/translations

extract-messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o idp/translations/messages.pot .
	$(BIN)/pybabel -q update -i idp/translations/messages.pot -d idp/translations

# Ports: IDP_DEMO_PORTS=5100,5101,5102 make demo (checked free before anything starts).
demo: install
	@$(BIN)/python -m relying_parties.demo

# The quality gates .ci/run passes before the tests: ruff (rules in pyproject.toml) and mypy on idp/.
lint: $(STAMP)
	$(BIN)/ruff check idp relying_parties
	$(BIN)/mypy

# redis-server: the resilience and operations tests start (and kill) servers of their own.
test: SYSTEM_PACKAGES = xmlsec1 espeak-ng chromium redis-server
test: install axe-core
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# axe-core (MPL-2.0), pinned in tests/e2e/axe/package.json, for the browser tests' accessibility
# checks: npm installs it into the git-ignored tests/e2e/axe/node_modules/. Node as for the bench.
axe-core:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages: nodejs npm"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "missing node/npm -- run: sudo apt-get install -y nodejs npm" >&2; exit 1; \
	  fi; \
	fi
	@[ -f tests/e2e/axe/node_modules/axe-core/axe.min.js ] || (cd tests/e2e/axe && npm ci --no-audit --no-fund --silent)

# Our IdP (gunicorn, one worker) against the OpenID-certified reference, node oidc-provider, pinned
# in bench/reference/package.json: see README "Performance" and bench/run.py.
bench: install bench-reference
	$(BIN)/python -m bench.run

# p50 latency at 1,000 vs 1,000,000 registry people and 1,000 vs 100,000 identities (PostgreSQL +
# Redis: IDP_BENCH_DATABASE_URL, IDP_BENCH_REDIS_URL); see bench/scale.py. A few minutes.
bench-scale: install
	$(BIN)/python -m bench.scale

# Node from the machine; from Debian (as root) when it has none, else the exact command is printed.
bench-reference:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages: nodejs npm"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "missing node/npm -- run: sudo apt-get install -y nodejs npm" >&2; exit 1; \
	  fi; \
	fi
	@[ -d bench/reference/node_modules/oidc-provider ] && [ -d bench/reference/node_modules/ioredis ] || \
	  (cd bench/reference && npm ci --no-audit --no-fund --silent)

# pytest-benchmark micro-benchmarks: key ring, registry import, sign-in and code exchange in-process.
bench-micro: install
	$(BIN)/python -m pytest -m bench tests/bench $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
