# Every target creates the virtual environment it needs; a fresh machine needs only Python 3.11 and pip.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml plugins/*/pyproject.toml | cksum | cut -d' ' -f1)
PACKAGES := aichats_core providers

.PHONY: install demo test pytest lint typecheck docs screenshots bench clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install  ## the main job, offline: chat and draw through the AiChats emulator
	$(BIN)/aichats providers
	$(BIN)/aichats chat --emulate "Hello! What can you do?"
	$(BIN)/aichats image --emulate "a lighthouse at dusk" -o demo-image.png

test: lint typecheck pytest docs  ## everything CI checks

pytest: install
	$(BIN)/python -X dev -m pytest --cov --cov-report=term:skip-covered

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy
	$(BIN)/mypy --strict tests/typing/usage.py

docs: install  ## run the Python examples of README.md and docs/ against the emulator
	$(BIN)/python docs/check_examples.py README.md docs/*.md

screenshots: install  ## rewrite docs/images/web-chat*.png from the chat page's browser tests
	AICHATS_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/web/test_page_look.py -k screenshots

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-image.png
