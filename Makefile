# Two commands a new user needs (see README): `make example` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup example example-3d test lint bench example-report example-report-3d

setup: $(STAMP)

# torch is pinned through constraints.txt (a local CPU wheel here); an unpinned torch pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

## The main job on the bundled example data: profile + advise + Optuna trials + HTML report.
example: setup
	$(VENV)/bin/lossadvisor tune --images examples/buildings/images --masks examples/buildings/masks \
		--out reports/buildings

## The 3-D main job on the bundled volumes (examples/hippocampus: 20 MSD hippocampus cases, NIfTI): the same
## tune, recognising volumes without a flag. A shorter budget than the 2-D defaults, so it stays within about
## 10 minutes on 2 CPU cores (see README, "Volumes (3-D)").
EXAMPLE_3D = --images examples/hippocampus/images --masks examples/hippocampus/labels \
	--n-trials 6 --epochs 4 --seeds 1
example-3d: setup
	$(VENV)/bin/lossadvisor tune $(EXAMPLE_3D) --out reports/hippocampus

## The test suite (CPU only, a few minutes on 2 cores).
test: setup
	$(PY) -m pytest -q tests

lint: setup
	$(VENV)/bin/ruff check lossadvisor tests benchmarks

## Every benchmark, each printing its ratios.
bench: setup
	$(PY) -m benchmarks

## Regenerate the example report committed in reports/example-buildings/ (same job as `make example`).
example-report: setup
	rm -rf reports/example-buildings
	$(VENV)/bin/lossadvisor tune --images examples/buildings/images --masks examples/buildings/masks \
		--out reports/example-buildings
	rm -rf reports/example-buildings/cache

## Regenerate the 3-D example report committed in reports/example-hippocampus/ (same job as `make example-3d`).
example-report-3d: setup
	rm -rf reports/example-hippocampus
	$(VENV)/bin/lossadvisor tune $(EXAMPLE_3D) --out reports/example-hippocampus
	rm -rf reports/example-hippocampus/cache
