# tally: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make demo` installs only what tally needs to run; `make test` adds the dev extra
# (pytest, Playwright, moto, ruff, ...) on top, so either order works.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
SPARK_STAMP := $(VENV)/.installed-spark
PORT ?=
# --no-compile: Python compiles a module the first time it is imported; compiling every file
# of every wheel at install time (plotly alone has thousands) only makes the first run slower.
PIP_INSTALL := $(BIN)/pip install --no-compile --disable-pip-version-check

.PHONY: demo serve test test-spark bench fuzz lint typecheck format system-packages bench-packages clean

$(BIN)/python:
	@echo "==> creating $(VENV)"
	$(PYTHON) -m venv $(VENV)

# pip shows its own progress (one line per package, a bar per download on a terminal).
$(RUN_STAMP): $(BIN)/python pyproject.toml
	@echo "==> installing tally and what it needs to run (the test tools come with make test)"
	$(PIP_INSTALL) --progress-bar on -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) pyproject.toml
	@echo "==> installing the test tools (the dev extra)"
	$(PIP_INSTALL) --quiet -e '.[dev]'
	touch $(DEV_STAMP)

$(SPARK_STAMP): $(DEV_STAMP) pyproject.toml
	@echo "==> installing pyspark (the spark extra: a whole Spark distribution, about 450 MB)"
	$(PIP_INSTALL) --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

demo: $(RUN_STAMP)  ## generate demo data for every source, run the pipeline, write the reports
	$(BIN)/tally demo

serve: $(RUN_STAMP)  ## serve tracking, the API and the dashboards (PORT=8090 to choose the port)
	$(BIN)/tally serve $(if $(PORT),--port $(PORT))

# Debian packages the tests drive: a real browser, LibreOffice to recalculate workbooks,
# pdftoppm to render them. Installed only when missing, and only where apt-get is ours.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v soffice >/dev/null || missing="$$missing libreoffice-calc"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages:$$missing (tests that need them will skip)"; fi; \
	fi

# Two pytest-xdist workers, one test file each at a time (a file's module fixtures are built once):
# every test has its own PostgreSQL database, MQTT topics, ports and temporary directory.
test: $(DEV_STAMP) system-packages  ## the whole test suite
	$(BIN)/pytest -q -n 2 --dist loadfile

# The Spark backend's tests on a real standalone cluster (one master, two workers, started
# once from the pyspark wheel): apart from `make test`, whose 10 minutes they would overrun.
test-spark: $(SPARK_STAMP) system-packages  ## the Spark backend on a local cluster
	$(BIN)/pytest -q -p tests.warehouse.spark_cluster -k spark \
	  tests/warehouse/test_backends.py tests/warehouse/test_spark_backend.py \
	  tests/warehouse/test_spark_load.py tests/warehouse/test_spark_sessions.py \
	  tests/warehouse/test_spark_batch.py

# make bench runs it too (benchmarks/fuzz_bench.py); make test runs a short version
fuzz: $(DEV_STAMP)  ## 10,000 mutated files per source parser, zero escapes from the error tree
	$(BIN)/python benchmarks/fuzz_bench.py --count 10000

# wrk, the tracking bench's load generator (C, so the client is not the bottleneck); without
# it tracking_bench.py falls back to Python client processes and says so.
bench-packages:
	@if ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing: wrk"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; \
	  else echo "missing system package: wrk (tracking_bench.py uses Python clients instead)"; fi; \
	fi

bench: $(DEV_STAMP) bench-packages  ## speed figures; see benchmarks/README.md
	@for script in benchmarks/*_bench.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(DEV_STAMP) typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks

# mypy, strict on every module of tally.* ([tool.mypy] in pyproject.toml; none is exempt)
typecheck: $(DEV_STAMP)
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix .

clean:
	rm -rf tally-data test-artifacts .pytest_cache
