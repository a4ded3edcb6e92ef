#!/usr/bin/env python
"""Train the semantic codec (JSCC, then the diffusion prior). See semantic/train.py for options.

CPU: ``python scripts/train.py --out-dir runs/x``; GPUs: ``accelerate launch scripts/train.py ...``.
Works from a checkout without installing (the repository root is put on sys.path).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semantic.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
