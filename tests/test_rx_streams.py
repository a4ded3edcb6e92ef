"""Reception of streams through the real PHY: a CRC-failed descriptor copy never ends reception,
Ctrl-C keeps what was received, one log line per frame and per image."""
import signal

import numpy as np

from diffradio import link
from diffradio.settings import ReceiveOptions
from diffradio.stream import StreamDescriptor
from phy import OfdmParams, Transmitter
from phy.frame import preamble_length
from phy.header import n_header_symbols
from sdr.base import Radio

P = OfdmParams()


class Samples(Radio):
    """A radio that plays ``samples`` in chunks, then raises ``then`` (or ends)."""

    def __init__(self, samples, then=None):
        self.samples, self.pos, self.then = samples, 0, then

    def configure(self, config):
        pass

    def transmit(self, burst, repeat=False, *, label=None):
        pass

    def receive(self, n):
        if self.pos >= self.samples.size and self.then is not None:
            raise self.then
        out = self.samples[self.pos: self.pos + n]
        self.pos += out.size
        return out


def _stream(nonce, values, corrupt_first=False):
    """A semantic-looking stream without a head (as transmitters before issue 21 sent it, still
    received): descriptor, one analog frame, descriptor, both copies control frames; optionally the
    first copy's payload drowned in noise (its header intact)."""
    tx = Transmitter(P, nonce=nonce)
    desc = StreamDescriptor("semantic", (64, 64), 1, values.size, (1, 1, 1, values.size))
    first, last = (tx.control_burst(desc.pack(), frame_index=i, frame_count=3, stream_id=3, level=link.DESCRIPTOR_LEVEL)
                   for i in (0, 2))
    if corrupt_first:
        first = first.copy()
        start = preamble_length(P) + n_header_symbols(P) * P.symbol_len
        rng = np.random.default_rng(nonce)
        end = first.size - P.idle_gap
        first[start:end] += (rng.standard_normal((end - start, 2)) @ [1, 1j]).astype(np.complex64)
    bursts = [first, tx.analog_burst(values, frame_index=1, frame_count=3, stream_id=3), last]
    return np.concatenate([np.zeros(200, np.complex64), *bursts])


def test_a_crc_failed_descriptor_copy_does_not_end_reception():
    values = np.linspace(-1, 1, 96)
    lines = []
    run = link.receive(Samples(_stream(5, values, corrupt_first=True)), P, ReceiveOptions(chunk=4096), log=lines.append)
    failed = [f for f in run.frames if f.header.mode == "control" and not f.crc_ok]
    assert len(failed) == 1 and failed[0].header.frame_index == 0
    (state,) = run.assembler.images()
    assert state.complete and state.key == (3, 5, 3) and len(state.received) == 3
    assert len(lines) == 4 and "CRC failed" in lines[0] and lines[-1].startswith("image 1")


def test_ctrl_c_keeps_the_images_received_so_far():
    a, b = np.ones(96), -np.ones(96)
    radio = Samples(np.concatenate([_stream(1, a), _stream(2, b)]), then=KeyboardInterrupt())
    run = link.receive(radio, P, ReceiveOptions(chunk=4096, stop_when_complete=True, count=None))
    assert run.interrupted
    assert [s.key[1] for s in run.assembler.images()] == [1, 2]


def test_ctrl_c_while_a_block_is_processed_ends_reception_after_that_block():
    """SIGINT in the middle of filing a block's frames (here raised from the per-frame callback)
    does not cut the block short: every frame of it is filed, then reception ends (interrupted)
    without asking the radio for more, and no KeyboardInterrupt escapes."""
    streams = np.concatenate([_stream(1, np.ones(96)), _stream(2, -np.ones(96))])
    radio = Samples(np.concatenate([streams, np.zeros(8192, np.complex64)]))
    seen = []
    before = signal.getsignal(signal.SIGINT)      # Python's default, or SIG_IGN under a shell's background job

    def on_frame(state, frame):
        seen.append((frame.header.nonce, frame.header.frame_index))
        if len(seen) == 1:
            signal.raise_signal(signal.SIGINT)

    run = link.receive(radio, P, ReceiveOptions(chunk=streams.size, stop_when_complete=False), on_frame=on_frame)
    assert run.interrupted and radio.pos == streams.size
    assert sorted(seen) == [(n, i) for n in (1, 2) for i in range(3)]
    assert [s.key[1] for s in run.assembler.images()] == [1, 2]
    assert signal.getsignal(signal.SIGINT) is before


def test_receive_stops_after_count_images():
    radio = Samples(np.concatenate([_stream(1, np.ones(96)), _stream(2, np.ones(96)), np.zeros(20000, np.complex64)]))
    run = link.receive(radio, P, ReceiveOptions(chunk=2048, count=1))
    assert not run.interrupted and run.assembler.completed[0][1] == 1 and run.samples < radio.samples.size


def test_rx_compiles_the_receiver_before_the_radio_streams():
    """``warm=True``: every numba kernel the analog and control paths use is compiled (or loaded
    from the cache) before the first samples are asked for."""
    from numba.core.registry import CPUDispatcher

    from phy import kernels

    class Checking(Samples):
        def receive(self, n):
            if self.pos == 0:
                used = {name for name, f in vars(kernels).items() if isinstance(f, CPUDispatcher) and f.signatures}
                self.compiled = used
            return super().receive(n)

    radio = Checking(_stream(4, np.ones(96)))
    run = link.receive(radio, P, ReceiveOptions(warm=True))
    after = {name for name, f in vars(kernels).items() if isinstance(f, CPUDispatcher) and f.signatures}
    assert run.assembler.completed and radio.compiled == after


def test_a_handed_out_stream_keeps_no_later_copies():
    """``on_image`` gets each stream once, as it completes; the repeats of a cyclic transmission
    after that are counted, not kept (a long ``rx`` does not grow), and ``keep_frames`` bounds
    ``RxRun.frames``."""
    once = _stream(6, np.ones(96))
    got = []
    options = ReceiveOptions(chunk=4096, count=None, stop_when_complete=False, keep_frames=2)
    run = link.receive(Samples(np.concatenate([once] * 3)), P, options,
                       on_image=lambda run_, n, state: got.append((n, state, len(state.received))))
    assert [(n, state.key) for n, state, _ in got] == [(1, (3, 6, 3))]
    assert got[0][2] == 2 == len(got[0][1].received)  # descriptor + payload; nothing filed after it was handed out
    assert run.assembler.frames_detected == 9 and len(run.frames) == 2
