# Set-up and main jobs. Every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: demo test bench results results-demo results-link results-classic results-phy results-decoder clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,pluto,cluster]'
	bash scripts/install-system-deps.sh --gnuradio --browser $(VENV)
	# compile the receiver's numba kernels into their on-disk cache, so that the first replay or rx starts in seconds
	$(BIN)/python -c 'from diffradio.link import warm_up; from phy.params import OfdmParams; warm_up(OfdmParams())'
	touch $(STAMP)

DEMO = $(BIN)/diffradio loopback --image $(OUT)/demo-input.png --snr 5 --channel tdl-c \
	--out $(OUT)/demo.png --plot $(OUT)/demo-diagnostics.png --json

## make demo: loopback of a held-out photo through the simulated radio with the shipped model
demo: $(STAMP)
	@mkdir -p $(OUT)
	$(BIN)/python scripts/export_photo.py coffee $(OUT)/demo-input.png --size 128
	$(DEMO)

## make test: the whole test suite (what CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

## make bench: the PHY benchmark (side by side with GNU Radio's receiver) and the decoder benchmark
bench: $(STAMP)
	$(BIN)/diffradio bench phy --out $(OUT)/bench --json
	$(BIN)/diffradio bench decoder --out $(OUT)/bench --json

## make results: rerun every measurement behind docs/results that needs no radio, no second checkout
## and no training data, copy the result files and figures into docs/, regenerate the README tables.
## docs/results/README.md lists each file with the command that wrote it and how long it takes; the
## parts run alone too (times, where recorded,
## seconds to about half an hour each).
KODAK ?= ../shared/datasets/kodak
KODAK_PHOTOS := $(sort $(wildcard $(KODAK)/kodim*.png))
results: results-demo results-link results-classic results-phy results-decoder
	$(BIN)/python experiments/readme_tables.py

results-demo: $(STAMP)
	@mkdir -p $(OUT) docs/results docs/figures
	$(BIN)/python scripts/export_photo.py coffee $(OUT)/demo-input.png --size 128
	$(DEMO) > docs/results/demo.json
	cp $(OUT)/demo-diagnostics.png docs/figures/demo_diagnostics.png
	$(BIN)/python scripts/compact_figures.py docs/figures/demo_diagnostics.png

results-link: $(STAMP)
	@mkdir -p $(OUT) docs/results docs/figures
	$(BIN)/python scripts/export_photo.py coffee $(OUT)/coffee-128.png --size 128
	$(BIN)/diffradio broadcast --image $(OUT)/coffee-128.png --snr 0 5 10 15 --out $(OUT)/broadcast --json
	cp $(OUT)/broadcast/broadcast.json docs/results/broadcast.json
	cp $(OUT)/broadcast/broadcast.png docs/figures/broadcast.png
	$(BIN)/python experiments/digital_vs_jpeg.py --image coffee $(wildcard $(KODAK)/kodim05.png $(KODAK)/kodim23.png) \
		--out docs/results/digital_vs_jpeg.json
	rm -rf $(OUT)/sweep
	$(BIN)/diffradio sweep --channel awgn --snr 0 5 --seeds 5 --decoder direct direct-refined digital capacity --out $(OUT)/sweep --json
	$(BIN)/diffradio sweep --channel tdl-c --snr 10 --seeds 10 --decoder direct direct-refined digital capacity --out $(OUT)/sweep --json
	cp $(OUT)/sweep/sweep.csv $(OUT)/sweep/sweep_summary.csv $(OUT)/sweep/sweep_paired.csv docs/results/
	cp $(OUT)/sweep/sweep_metrics.png $(OUT)/sweep/sweep_grid.jpg docs/figures/
	$(BIN)/python scripts/compact_figures.py docs/figures/sweep_metrics.png

results-classic: $(STAMP)
	@mkdir -p docs/results docs/figures
	$(BIN)/python experiments/classic_images.py --out docs/results/classic_images.json \
		--figure docs/figures/classic_images.jpg
	$(if $(KODAK_PHOTOS),$(BIN)/python experiments/classic_images.py --photo $(KODAK_PHOTOS) \
		--out docs/results/classic_kodak.json,@echo "no Kodak photos in $(KODAK): classic_kodak.json not rerun")

results-phy: $(STAMP)
	@mkdir -p $(OUT) docs/results docs/figures
	OPENBLAS_NUM_THREADS=1 $(BIN)/diffradio bench phy --out $(OUT)/bench --json > /dev/null
	cp $(OUT)/bench/phy_bench.json docs/results/phy_bench.json
	cp $(OUT)/bench/phy_bench.png docs/figures/phy_bench.png
	$(BIN)/python experiments/control_fer.py --out docs/results/control_fer.json
	$(BIN)/python experiments/cold_start.py --repeats 3 --out docs/results/cold_start.json

results-decoder: $(STAMP)
	@mkdir -p $(OUT) docs/results docs/figures
	$(BIN)/diffradio bench decoder --seeds 3 --out $(OUT)/bench-decoder --json > /dev/null
	cp $(OUT)/bench-decoder/results.json docs/results/decoder_bench_heldout.json
	cp $(OUT)/bench-decoder/metrics.png docs/figures/decoder_metrics.png
	$(BIN)/python scripts/compact_figures.py docs/figures/decoder_metrics.png
	$(if $(KODAK_PHOTOS),$(BIN)/diffradio bench decoder --photo-dir $(KODAK) --bandwidth-ratio 1/24 --snr 0 10 \
		--latent-channel awgn --seeds 3 --out $(OUT)/bench-kodak --json > /dev/null,@echo "no Kodak photos in $(KODAK): Kodak benchmarks not rerun")
	$(if $(KODAK_PHOTOS),cp $(OUT)/bench-kodak/results.json docs/results/decoder_bench_kodak.json)
	$(if $(KODAK_PHOTOS),$(BIN)/diffradio bench decoder --photo-dir $(KODAK) --bandwidth-ratio 1/12 1/48 --snr 10 \
		--latent-channel awgn --seeds 3 --out $(OUT)/bench-kodak-ratios --json > /dev/null)
	$(if $(KODAK_PHOTOS),cp $(OUT)/bench-kodak-ratios/results.json docs/results/decoder_bench_kodak_ratios.json)
	$(if $(KODAK_PHOTOS),$(BIN)/diffradio bench decoder --photo-dir $(KODAK) --max-photos 6 --bandwidth-ratio 1/24 \
		--snr 0 10 --latent-channel awgn --realism 0 0.2 1 --seeds 3 --no-reference \
		--out $(OUT)/bench-kodak-diffusion --json > /dev/null)
	$(if $(KODAK_PHOTOS),cp $(OUT)/bench-kodak-diffusion/results.json docs/results/decoder_bench_kodak_diffusion.json)
	$(if $(KODAK_PHOTOS),cp $(OUT)/bench-kodak-diffusion/perception_distortion.png docs/figures/perception_distortion.png)
	$(if $(KODAK_PHOTOS),$(BIN)/python scripts/compact_figures.py docs/figures/perception_distortion.png)
	$(if $(KODAK_PHOTOS),$(BIN)/diffradio bench decoder --photo-dir $(KODAK) --max-photos 6 --bandwidth-ratio 1/48 \
		--snr 5 --latent-channel awgn --realism 0 0.2 1 --seeds 3 --no-reference \
		--out $(OUT)/bench-kodak-diffusion-1-48 --json > /dev/null)
	$(if $(KODAK_PHOTOS),cp $(OUT)/bench-kodak-diffusion-1-48/results.json docs/results/decoder_bench_kodak_diffusion_1_48.json)

clean:
	rm -rf $(VENV) $(OUT)
