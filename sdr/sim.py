"""The simulated radio: what was transmitted, through phy's channel model, framed by receiver noise."""
from __future__ import annotations

import numpy as np

from phy.channel import Channel, ChannelConfig

from .base import Radio, RadioConfig, RadioError, SampleQueue

IDLE_REFERENCE_POWER = 0.1
"""SNR reference (mean sample power, -10 dBFS) for noise when nothing has been transmitted yet."""


class SimRadio(Radio):
    """A loopback radio whose receiver sees the queued bursts through ``phy.channel.Channel``.

    ``transmit()`` queues bursts. The first ``receive()`` after new bursts were queued lays out
    what a real receiver would capture: a random lead of idle samples (``lead_samples`` range),
    the bursts back to back, ``trail_samples`` idle samples; the whole timeline goes through one
    ``Channel.apply`` with the bursts' mean power (zeros excluded) as the SNR reference, so the
    idle parts carry the same noise floor. Once that timeline is consumed ``receive`` returns fewer
    samples, then empty arrays (the end of the transmission). A radio that never transmitted
    returns channel noise (reference power ``IDLE_REFERENCE_POWER``) for any ``n`` forever.
    ``transmit(burst, repeat=True)`` loops the burst without end, like a cyclic DAC buffer; each
    block of repetitions goes through its own ``Channel.apply`` call.
    Gains are not modelled: the SNR is the channel's.

    Args:
        channel: the channel model parameters (``ChannelConfig.from_uri_params`` for URI text).
        config: the radio settings; ``sample_rate_hz`` is passed to the channel model.
        lead_samples: (low, high) range in samples of the random idle lead before the bursts.
        trail_samples: idle samples after the bursts.
    """

    def __init__(self, channel: ChannelConfig | None = None, config: RadioConfig | None = None,
                 lead_samples: tuple[int, int] = (500, 5000), trail_samples: int = 2000) -> None:
        self.channel_config = channel if channel is not None else ChannelConfig()
        self.config = config or RadioConfig()
        self.lead_samples = lead_samples
        self.trail_samples = trail_samples
        seed = self.channel_config.seed  # a stream apart from the channel's own Generator
        self._rng = np.random.default_rng(None if seed is None else [seed, 1])
        self._channel = Channel(self.channel_config, self.config.sample_rate_hz)
        self._queue: list[np.ndarray] = []
        self._cyclic: np.ndarray | None = None
        self._cyclic_started = False
        self._received = SampleQueue()
        self._transmitted = False
        self._ref_power = IDLE_REFERENCE_POWER

    @classmethod
    def from_uri_params(cls, params: dict[str, str], config: RadioConfig | None = None) -> "SimRadio":
        """A sim radio for URI parameters such as ``{'snr': '5', 'channel': 'tdl-c'}``.

        Raises ValueError (from ``ChannelConfig.from_uri_params`` / ``Channel``) for bad values.
        """
        return cls(ChannelConfig.from_uri_params(params), config)

    def configure(self, config: RadioConfig) -> None:
        """Adopt ``config`` (a new sample rate rebuilds the channel model)."""
        if config.sample_rate_hz != self.config.sample_rate_hz:
            self._channel = Channel(self.channel_config, config.sample_rate_hz)
        self.config = config

    def transmit(self, burst: np.ndarray, repeat: bool = False, *, label: str | None = None) -> None:
        """Queue ``burst`` (shape (n,), complex, |x| <= 1); ``repeat`` loops it until ``close()``."""
        burst = np.asarray(burst, dtype=np.complex64).reshape(-1)
        active = burst[burst != 0]
        if active.size == 0:
            raise RadioError("cannot transmit an all-zero burst; pass the transmitter's output")
        self._ref_power = float(np.mean(np.abs(active) ** 2))
        self._transmitted = True
        if repeat:
            self._cyclic, self._cyclic_started = burst, False
        else:
            self._queue.append(burst)

    def _lead(self) -> np.ndarray:
        low, high = self.lead_samples
        return np.zeros(int(self._rng.integers(low, high + 1)), dtype=np.complex64)

    def _next_block(self, want: int) -> np.ndarray | None:
        """The next received block (at least one sample), or None at the end of the transmission."""
        if self._queue:
            bursts = np.concatenate(self._queue)
            self._queue = []
            power = float(np.mean(np.abs(bursts[bursts != 0]) ** 2))
            timeline = np.concatenate([self._lead(), bursts, np.zeros(self.trail_samples, np.complex64)])
            return self._channel.apply(timeline, signal_power=power)
        if self._cyclic is not None:
            reps = max(1, -(-max(want, 1 << 16) // self._cyclic.size))
            block = np.tile(self._cyclic, reps)
            if not self._cyclic_started:
                block, self._cyclic_started = np.concatenate([self._lead(), block]), True
            return self._channel.apply(block, signal_power=self._ref_power)
        if self._transmitted:
            return None
        return self._channel.apply(np.zeros(max(want, 1), dtype=np.complex64), signal_power=self._ref_power)

    def receive(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` received samples, complex64 (n,); fewer, then empty, after the last burst."""
        out = self._received.take(n_samples, self._next_block)
        self.stats.rx_samples += out.size
        return out

    def close(self) -> None:
        """Stop a repeating burst and drop anything not yet received."""
        self._queue, self._cyclic = [], None
        self._received.clear()
