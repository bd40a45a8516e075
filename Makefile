# Quick start: `make play` (a terminal role-play) and `make test` (the whole suite).
# Both create .venv on first use; only Python >= 3.11 and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= traffic_stop

.PHONY: play test check clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

play: $(VENV)/.installed
	$(BIN)/trainer play $(SCENARIO)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

check: $(VENV)/.installed
	$(BIN)/trainer check --strict dialogues/ --badges bot/recognition/badges.yaml

bench: $(VENV)/.installed-test
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/recognition.py
	$(BIN)/python bench/scorer.py
	$(BIN)/python bench/purge.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# Retrain the learned cues from the tuning lines in tests/data (needs scikit-learn).
.PHONY: cues
cues: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,train]'
	$(BIN)/python -m bot.engine.cues_train
