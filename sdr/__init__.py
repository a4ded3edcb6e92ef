"""Radios named by URI (sim, SigMF file, ADALM-Pluto, SoapySDR, GNU Radio over ZeroMQ) behind one small interface.

Importing ``sdr`` loads no radio driver, no ``phy`` code and no SigMF/SciPy: ``open_radio`` imports
what it opens, and ``SigMFReader``/``SigMFRecorder`` load ``sdr.sigmf_io`` on first use.
"""
from .base import DeviceSettings, Radio, RadioConfig, RadioError, RadioEvent, RadioStats
from .uri import open_radio

__all__ = ["DeviceSettings", "Radio", "RadioConfig", "RadioError", "RadioEvent", "RadioStats", "SigMFReader",
           "SigMFRecorder", "open_radio"]


def __getattr__(name: str):
    if name in ("SigMFReader", "SigMFRecorder"):
        from . import sigmf_io
        return getattr(sigmf_io, name)
    raise AttributeError(f"module 'sdr' has no attribute {name!r}")
