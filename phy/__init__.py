"""OFDM burst PHY of diffradio: waveform, streaming receiver and channel model (NumPy/SciPy only;
Sionna's LDPC is imported lazily when a digital frame is coded or decoded)."""
from phy.header import Header
from phy.params import OfdmParams
from phy.rx import ReceivedFrame, Receiver
from phy.tx import Transmitter

__all__ = ["Header", "OfdmParams", "ReceivedFrame", "Receiver", "Transmitter"]
try:  # the channel model is written alongside; export it once present
    from phy.channel import Channel, ChannelConfig  # noqa: F401
    __all__ += ["Channel", "ChannelConfig"]
except ImportError:
    pass
