# Two-command quick start: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch first, pinned to the CPU build that lies on local disk; the package's range admits it,
# so installing relcontrast afterwards pulls no other torch build.
TORCH := torch==2.13.0

.PHONY: demo test docs lint install clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e ".[test,examples,docs]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/relcontrast demo --verbose 1

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check relcontrast tests benchmarks examples

clean:
	rm -rf $(VENV) build site *.egg-info
