"""OFDM burst PHY of diffradio: waveform, streaming receiver and channel model (NumPy/SciPy only;
Sionna's LDPC is imported lazily when a digital frame is coded or decoded)."""
from phy.channel import Channel, ChannelConfig
from phy.header import Header
from phy.params import OfdmParams
from phy.rx import ReceivedFrame, Receiver
from phy.tx import Transmitter

__all__ = ["Channel", "ChannelConfig", "Header", "OfdmParams", "ReceivedFrame", "Receiver", "Transmitter"]
