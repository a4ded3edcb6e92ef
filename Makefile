# Set-up and main jobs. Every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: demo test bench results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,pluto,cluster]'
	bash scripts/install-system-deps.sh --gnuradio $(VENV)
	# compile the receiver's numba kernels into their on-disk cache, so that the first replay or rx starts in seconds
	$(BIN)/python -c 'from diffradio.link import warm_up; from phy.params import OfdmParams; warm_up(OfdmParams())'
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

## make results: rerun the comparisons behind the README (broadcast, digital vs JPEG, the sweep: about
## an hour on 2 cores), copy their small result files and figures into docs/, regenerate the README tables
KODAK ?= ../shared/datasets/kodak
results: $(STAMP)
	@mkdir -p $(OUT) docs/results docs/figures
	$(BIN)/python scripts/export_photo.py coffee $(OUT)/coffee-128.png --size 128
	$(BIN)/diffradio broadcast --image $(OUT)/coffee-128.png --snr 0 5 10 15 --out $(OUT)/broadcast --json
	cp $(OUT)/broadcast/broadcast.json docs/results/broadcast.json
	cp $(OUT)/broadcast/broadcast.png docs/figures/broadcast.png
	$(BIN)/python scripts/digital_vs_jpeg.py --image coffee $(wildcard $(KODAK)/kodim05.png $(KODAK)/kodim23.png) \
		--out docs/results/digital_vs_jpeg.json
	$(BIN)/diffradio sweep --channel awgn --seeds 5 --out $(OUT)/sweep --json
	$(BIN)/diffradio sweep --channel tdl-c --seeds 10 --out $(OUT)/sweep --json
	cp $(OUT)/sweep/sweep.csv $(OUT)/sweep/sweep_summary.csv $(OUT)/sweep/sweep_paired.csv docs/results/
	cp $(OUT)/sweep/sweep_metrics.png $(OUT)/sweep/sweep_grid.jpg docs/figures/
	$(BIN)/python scripts/readme_tables.py

clean:
	rm -rf $(VENV) $(OUT)
