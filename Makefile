# The two commands of README.md: `make book` and `make test`.
# Each creates what it needs: a virtual environment in .venv with the package
# (editable) and its [dev] tools.  Only a Python >= 3.10 is assumed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TEMPGUIDE_PROFILE ?= quick

.PHONY: venv test book book-student mutation clean

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

# The student edition: the same book without the solutions of its exercises, on the
# pages, in the search index and in the page sources offered for download
# (sphinx-exercise's hide_solutions and tempguide.sphinx_student, switched on in a
# generated copy of _config.yml), into _build/student/_build/html.  Executions come
# from the same cache; tests/test_student_edition.py searches the output for solutions.
book-student: $(STAMP)
	$(BIN)/python -m tempguide.homework book-config _config.yml _build/student/_config.yml
	$(BIN)/jupyter-book build --all -W -n --keep-going --config _build/student/_config.yml \
		--path-output _build/student .

# Mutation testing (issue 20; not run in CI, a background job on this machine): mutmut plants
# single bugs in the modules whose numbers the book prints and runs the fast unit tests against
# each ([tool.mutmut] in pyproject.toml); its work folder is mutants/.  Then the score per module,
# also kept in benchmarks/results/mutation.md.  E.g. `nice -n 19 make mutation MUTANTS='tempguide.lm.*'`.
MUTANTS ?=
mutation: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/python benchmarks/bench_mutation.py --save benchmarks/results/mutation.md

clean:
	rm -rf _build
