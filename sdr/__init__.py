"""Radios named by URI (sim, SigMF file, ADALM-Pluto, SoapySDR) behind one small interface.

Importing ``sdr`` loads no radio driver and no ``phy`` code; ``open_radio`` imports what it opens.
"""
from .base import Radio, RadioConfig, RadioError
from .sigmf_io import SigMFReader, SigMFRecorder
from .uri import open_radio

__all__ = ["Radio", "RadioConfig", "RadioError", "SigMFReader", "SigMFRecorder", "open_radio"]
