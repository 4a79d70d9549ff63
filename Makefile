# tally: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test bench lint format system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate demo data for every source, run the pipeline, write the reports
	$(BIN)/tally demo

serve: $(STAMP)  ## serve tracking, the API and the dashboards on http://127.0.0.1:8080
	$(BIN)/tally serve

# Debian packages the tests drive: a real browser, LibreOffice to recalculate workbooks,
# pdftoppm to render them. Installed only when missing, and only where apt-get is ours.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v soffice >/dev/null || missing="$$missing libreoffice-calc"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (tests that need them will skip)"; fi; \
	fi

# Two pytest-xdist workers, one test file each at a time (a file's module fixtures are built once):
# every test has its own PostgreSQL database, MQTT topics, ports and temporary directory.
test: $(STAMP) system-packages  ## the whole test suite
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: $(STAMP)  ## speed figures; see benchmarks/README.md
	@for script in benchmarks/*_bench.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix .

clean:
	rm -rf tally-data test-artifacts .pytest_cache
