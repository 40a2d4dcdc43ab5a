# The two commands of README.md: `make book` and `make test`.
# Each creates what it needs: a virtual environment in .venv with the package
# (editable) and its [dev] tools.  Only a Python >= 3.10 is assumed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TEMPGUIDE_PROFILE ?= quick

.PHONY: venv test book book-student clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

venv: $(STAMP)

# Unit tests, then every notebook under nbval, then the Colab simulation, the
# book build (reusing the executed notebooks through jupyter-cache) and the
# browser test of the built pages; the order lives in conftest.py.
test: $(STAMP)
	$(BIN)/python -m pytest

# The whole book with every notebook executed, into _build/html.
book: $(STAMP)
	$(BIN)/jupyter-book build --all -W -n --keep-going .

# The student edition: the same book without the solutions of its exercises
# (sphinx-exercise's hide_solutions, switched on in a generated copy of
# _config.yml), into _build/student/_build/html.  Executions come from the same cache.
book-student: $(STAMP)
	$(BIN)/python -m tempguide.homework book-config _config.yml _build/student/_config.yml
	$(BIN)/jupyter-book build --all -W -n --keep-going --config _build/student/_config.yml \
		--path-output _build/student .

clean:
	rm -rf _build
