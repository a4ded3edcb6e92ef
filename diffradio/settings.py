"""The link's settings, in one place: what travels with an image from the encoder through the modem
and the radio to the receiver and the decoder (``LinkSettings``), and how long and how a receive
pass listens (``ReceiveOptions``).

The OFDM numerology (sample rate, FFT size, ...) is ``phy.OfdmParams`` and the simulated channel
``phy.ChannelConfig``; neither is repeated here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phy.mcs import Mcs


@dataclass(frozen=True)
class LinkSettings:
    """How one image is sent and decoded (``diffradio.link``).

    Transmitter:
        scheme: 'semantic' (the codec's latents on analog frames) or 'digital' (the separation
            baseline: source codec + 5G LDPC + QAM, sized to the semantic stream's channel uses).
        bandwidth_ratio: the semantic stream's bandwidth ratio, complex channel uses per real image
            value: '1/12', '1/24' or '1/48' (None = '1/24'); it also sizes the digital stream.
        snr_hint_db: in-band SNR in dB (per-subcarrier Es/N0 on the used subcarriers) the
            transmitter plans for: the SNR ``refine_steps`` refines the latents for, and the one the
            digital MCS is chosen for.
        channel: the channel family whose calibrated thresholds choose the digital MCS ('awgn',
            'rayleigh', 'tdl-a'..'tdl-e'; ``phy.mcs.select_mcs``).
        mcs: the digital MCS (modulation and LDPC rate); None = the calibrated choice for
            ``snr_hint_db`` on ``channel``.
        source_codec: the digital baseline's image codec, 'avif', 'webp' or 'jpeg'; None = the
            strongest available.
        refine_steps: decoder forward and backward passes that refine the semantic latents at the
            transmitter (``semantic.refine``); 0 = off. Unused by the digital scheme.
        stream_id: the stream id written in every frame header, 0..255.

    Receiver (the semantic decoder, ``SemanticCodec.decode``; a digital stream ignores them):
        method: 'direct' or 'diffusion'; None = the codec's default method.
        steps: diffusion decoder steps.
        seed: seed of the diffusion decoder's noise; ``link.loopback`` also takes the stream nonce
            from it (``seed & 0xFFFF``), so that a seeded loopback sends the same samples.
        realism: diffusion decoder, 0 = posterior-mean estimate, 1 = posterior sample; None = the
            codec's setting.
    """

    scheme: str = "semantic"
    bandwidth_ratio: str | None = None
    snr_hint_db: float = 10.0
    channel: str = "awgn"
    mcs: "Mcs | None" = None
    source_codec: str | None = None
    refine_steps: int = 0
    stream_id: int = 1
    method: str | None = None
    steps: int = 10
    seed: int = 0
    realism: float | None = None

    def __post_init__(self) -> None:
        if self.scheme not in ("semantic", "digital"):
            raise ValueError(f"unknown scheme {self.scheme!r}; use 'semantic' or 'digital'")
        if self.method == "digital":
            raise ValueError("'digital' is a scheme, not a semantic decoding method: pass scheme='digital'")
        if not 0 <= self.stream_id <= 255:
            raise ValueError(f"stream_id must be in 0..255, got {self.stream_id}")

    @classmethod
    def for_decoder(cls, decoder: str | None, **fields) -> "LinkSettings":
        """The settings for a ``--decoder`` choice: 'digital' is the digital scheme, anything else
        (a semantic method, or None for the codec's default) the semantic scheme decoded that way;
        ``fields`` set the other settings."""
        if decoder == "digital":
            return cls(scheme="digital", **fields)
        return cls(scheme="semantic", method=decoder, **fields)


@dataclass(frozen=True)
class ReceiveOptions:
    """How a receive pass (``link.receive``) listens.

    Attributes:
        timeout_s: stop after this many seconds of radio time (samples / sample rate in Hz);
            None = until the radio ends.
        count: images to complete before stopping (with ``stop_when_complete``); None = no limit.
        stop_when_complete: stop once ``count`` images are complete.
        chunk: samples read from the radio per call.
        keep: samples kept from the start of the reception (``RxRun.head``, for the diagnostics
            spectrum and the outage genie).
        keep_frames: frames kept in ``RxRun.frames`` (the most recent ones); None = every frame.
        warm: compile the receiver's kernels (``link.warm_up``) before the radio streams.
        progress: show a progress bar on stderr.
    """

    timeout_s: float | None = None
    count: int | None = 1
    stop_when_complete: bool = True
    chunk: int = 1 << 16
    keep: int = 1 << 18
    keep_frames: int | None = None
    warm: bool = False
    progress: bool = False
