# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint reformat bench train nlu-test lock upgrade

# Every package is pinned in requirements.lock (made by `make lock` from pyproject.toml), so
# a fresh machine, CI and a developer's checkout run exactly the versions that were tested.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing dependencies in pyproject.toml: pin them, keeping the other pins.
lock: install
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

# Move every pin to the newest version pyproject.toml allows; then run `make test`.
upgrade: install
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet --upgrade -o requirements.lock
	$(BIN)/pip install --quiet -r requirements.lock

install: $(STAMP)

run: install
	$(BIN)/zhaoren serve

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot nlu dialogues knowledge
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy bot nlu dialogues knowledge

reformat: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

train: install
	$(BIN)/zhaoren train

nlu-test: install
	$(BIN)/zhaoren nlu test

bench: install
	$(BIN)/python -m bench
