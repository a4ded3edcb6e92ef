# Set-up and main jobs. Every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,pluto,cluster]'
	bash scripts/install-system-deps.sh --gnuradio $(VENV)
	touch $(STAMP)

## make demo: loopback of a held-out photo through the simulated radio with the shipped model
demo: $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/python scripts/export_photo.py coffee $(OUT)/demo-input.png --size 128
	$(BIN)/diffradio loopback --image $(OUT)/demo-input.png --snr 5 --channel tdl-c \
		--out $(OUT)/demo.png --plot $(OUT)/demo-diagnostics.png --json

## make test: the whole test suite (what CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

## make bench: the PHY benchmark (side by side with GNU Radio's receiver) and the decoder benchmark
bench: $(STAMP)
	$(BIN)/diffradio bench phy --out $(OUT)/bench --json
	$(BIN)/diffradio bench decoder --out $(OUT)/bench --json

clean:
	rm -rf $(VENV) $(OUT)
