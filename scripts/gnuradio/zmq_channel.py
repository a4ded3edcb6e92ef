#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: ZMQ -> channels.channel_model -> ZMQ: GNU Radio's channel between diffradio tx and rx
# Author: diffradio
# Description: diffradio tx --radio zmq:pub=tcp://127.0.0.1:5556,rate=2e6 -> this flowgraph (SUB source connects; noise, frequency offset, two-path multipath) -> PUB sink (binds) -> diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6
# GNU Radio version: 3.10.5.1

from gnuradio import channels
from gnuradio.filter import firdes
from gnuradio import gr
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation
from gnuradio import zeromq




class zmq_channel(gr.top_block):

    def __init__(self, samp_rate=2e6, noise_voltage=0.01, freq_offset_hz=1000, echo=0.3, seed=1, tx_address='tcp://127.0.0.1:5556', rx_address='tcp://127.0.0.1:5555'):
        gr.top_block.__init__(self, "ZMQ -> channels.channel_model -> ZMQ: GNU Radio's channel between diffradio tx and rx", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.samp_rate = samp_rate
        self.noise_voltage = noise_voltage
        self.freq_offset_hz = freq_offset_hz
        self.echo = echo
        self.seed = seed
        self.tx_address = tx_address
        self.rx_address = rx_address

        ##################################################
        # Blocks
        ##################################################

        self.zeromq_sub_source_0 = zeromq.sub_source(gr.sizeof_gr_complex, 1, tx_address, 100, False, (-1), '')
        self.zeromq_pub_sink_0 = zeromq.pub_sink(gr.sizeof_gr_complex, 1, rx_address, 100, False, (-1), '', False)
        self.channels_channel_model_0 = channels.channel_model(
            noise_voltage=noise_voltage,
            frequency_offset=(freq_offset_hz / samp_rate),
            epsilon=1.0,
            taps=[1.0, echo],
            noise_seed=seed,
            block_tags=False)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.channels_channel_model_0, 0), (self.zeromq_pub_sink_0, 0))
        self.connect((self.zeromq_sub_source_0, 0), (self.channels_channel_model_0, 0))


    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate
        self.channels_channel_model_0.set_frequency_offset((self.freq_offset_hz / self.samp_rate))

    def get_noise_voltage(self):
        return self.noise_voltage

    def set_noise_voltage(self, noise_voltage):
        self.noise_voltage = noise_voltage
        self.channels_channel_model_0.set_noise_voltage(self.noise_voltage)

    def get_freq_offset_hz(self):
        return self.freq_offset_hz

    def set_freq_offset_hz(self, freq_offset_hz):
        self.freq_offset_hz = freq_offset_hz
        self.channels_channel_model_0.set_frequency_offset((self.freq_offset_hz / self.samp_rate))

    def get_echo(self):
        return self.echo

    def set_echo(self, echo):
        self.echo = echo
        self.channels_channel_model_0.set_taps([1.0, self.echo])

    def get_seed(self):
        return self.seed

    def set_seed(self, seed):
        self.seed = seed

    def get_tx_address(self):
        return self.tx_address

    def set_tx_address(self, tx_address):
        self.tx_address = tx_address

    def get_rx_address(self):
        return self.rx_address

    def set_rx_address(self, rx_address):
        self.rx_address = rx_address



def argument_parser():
    description = 'diffradio tx --radio zmq:pub=tcp://127.0.0.1:5556,rate=2e6 -> this flowgraph (SUB source connects; noise, frequency offset, two-path multipath) -> PUB sink (binds) -> diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "-r", "--samp-rate", dest="samp_rate", type=eng_float, default=eng_notation.num_to_str(float(2e6)),
        help="Set sample rate (S/s) [default=%(default)r]")
    parser.add_argument(
        "-n", "--noise-voltage", dest="noise_voltage", type=eng_float, default=eng_notation.num_to_str(float(0.01)),
        help="Set noise voltage (rms, complex) [default=%(default)r]")
    parser.add_argument(
        "-f", "--freq-offset-hz", dest="freq_offset_hz", type=eng_float, default=eng_notation.num_to_str(float(1000)),
        help="Set frequency offset (Hz) [default=%(default)r]")
    parser.add_argument(
        "-e", "--echo", dest="echo", type=eng_float, default=eng_notation.num_to_str(float(0.3)),
        help="Set second path's amplitude (one sample late) [default=%(default)r]")
    parser.add_argument(
        "-s", "--seed", dest="seed", type=intx, default=1,
        help="Set noise seed [default=%(default)r]")
    parser.add_argument(
        "-i", "--tx-address", dest="tx_address", type=str, default='tcp://127.0.0.1:5556',
        help="Set ZMQ address of diffradio tx (connects) [default=%(default)r]")
    parser.add_argument(
        "-o", "--rx-address", dest="rx_address", type=str, default='tcp://127.0.0.1:5555',
        help="Set ZMQ PUB address for diffradio rx (binds) [default=%(default)r]")
    return parser


def main(top_block_cls=zmq_channel, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(samp_rate=options.samp_rate, noise_voltage=options.noise_voltage, freq_offset_hz=options.freq_offset_hz, echo=options.echo, seed=options.seed, tx_address=options.tx_address, rx_address=options.rx_address)

    def sig_handler(sig=None, frame=None):
        tb.stop()
        tb.wait()

        sys.exit(0)

    signal.signal(signal.SIGINT, sig_handler)
    signal.signal(signal.SIGTERM, sig_handler)

    tb.start()

    tb.wait()


if __name__ == '__main__':
    main()
