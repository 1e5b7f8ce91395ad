# Two commands on a fresh machine: `make demo` and `make test`. Both create or refresh .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# The install compiles the fused CPU step when jax is already there; on a fresh venv jax
	@# arrives in the same install, so build it now (a failure leaves gradtx on the XLA path).
	$(PY) -c "import gradtx, sys; sys.exit(not gradtx.fused_available())" || $(PY) -m gradtx._native.build || true
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m gradtx tour --out out/tour

test: $(STAMP)
	@# notebooks first: the longest items start at once, and the short tests fill in behind them
	$(PY) -m pytest -q -n 2 --dist loadgroup notebooks tests --nbmake

lint: $(STAMP)  # also part of `make test` (tests/test_lint.py)
	$(PY) -m pytest -q tests/test_lint.py

bench: $(STAMP)
	$(PY) -m benchmarks.run

docs: $(STAMP)  # the documentation site, built strictly (any warning fails) into site/
	$(PY) -m pip install --quiet -e '.[docs]'
	$(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) out .pytest_cache site .cache
