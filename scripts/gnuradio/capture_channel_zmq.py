#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: SigMF capture -> channel model -> ZMQ (diffradio rx)
# Author: diffradio
# Description: Plays a SigMF capture (cf32_le .sigmf-data) through channels.channel_model (noise, frequency offset, multipath) into a ZMQ PUSH sink: diffradio rx --radio zmq:pull=tcp://127.0.0.1:5555,rate=2e6
# GNU Radio version: 3.10.5.1

from gnuradio import blocks
import pmt
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




class capture_channel_zmq(gr.top_block):

    def __init__(self, capture='captures/clean.sigmf-data', address='tcp://127.0.0.1:5555', samp_rate=2e6, noise_voltage=0.01, freq_offset_hz=1000, echo=0.3, seed=1):
        gr.top_block.__init__(self, "SigMF capture -> channel model -> ZMQ (diffradio rx)", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.capture = capture
        self.address = address
        self.samp_rate = samp_rate
        self.noise_voltage = noise_voltage
        self.freq_offset_hz = freq_offset_hz
        self.echo = echo
        self.seed = seed

        ##################################################
        # Blocks
        ##################################################

        self.zeromq_push_sink_0 = zeromq.push_sink(gr.sizeof_gr_complex, 1, address, 100, False, (-1))
        self.channels_channel_model_0 = channels.channel_model(
            noise_voltage=noise_voltage,
            frequency_offset=(freq_offset_hz / samp_rate),
            epsilon=1.0,
            taps=[1.0, echo],
            noise_seed=seed,
            block_tags=False)
        self.blocks_throttle_0 = blocks.throttle(gr.sizeof_gr_complex*1, samp_rate,True)
        self.blocks_file_source_0 = blocks.file_source(gr.sizeof_gr_complex*1, capture, False, 0, 0)
        self.blocks_file_source_0.set_begin_tag(pmt.PMT_NIL)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.blocks_file_source_0, 0), (self.blocks_throttle_0, 0))
        self.connect((self.blocks_throttle_0, 0), (self.channels_channel_model_0, 0))
        self.connect((self.channels_channel_model_0, 0), (self.zeromq_push_sink_0, 0))


    def get_capture(self):
        return self.capture

    def set_capture(self, capture):
        self.capture = capture
        self.blocks_file_source_0.open(self.capture, False)

    def get_address(self):
        return self.address

    def set_address(self, address):
        self.address = address

    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate
        self.blocks_throttle_0.set_sample_rate(self.samp_rate)
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



def argument_parser():
    description = 'Plays a SigMF capture (cf32_le .sigmf-data) through channels.channel_model (noise, frequency offset, multipath) into a ZMQ PUSH sink: diffradio rx --radio zmq:pull=tcp://127.0.0.1:5555,rate=2e6'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "-c", "--capture", dest="capture", type=str, default='captures/clean.sigmf-data',
        help="Set capture (.sigmf-data, cf32_le) [default=%(default)r]")
    parser.add_argument(
        "-a", "--address", dest="address", type=str, default='tcp://127.0.0.1:5555',
        help="Set ZMQ PUSH address (binds) [default=%(default)r]")
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
    return parser


def main(top_block_cls=capture_channel_zmq, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(capture=options.capture, address=options.address, samp_rate=options.samp_rate, noise_voltage=options.noise_voltage, freq_offset_hz=options.freq_offset_hz, echo=options.echo, seed=options.seed)

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
