#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: ADALM-Pluto (gr-iio) source -> ZMQ PUB: diffradio rx
# Author: diffradio
# Description: Pluto receive (gr-iio, fast_attack AGC) into a ZMQ PUB sink (binds); then: diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6,freq=2.4e9 --out rx-{n}.png
# GNU Radio version: 3.10.5.1

from gnuradio import gr
from gnuradio.filter import firdes
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation
from gnuradio import iio
from gnuradio import zeromq




class pluto_rx_zmq(gr.top_block):

    def __init__(self, uri='ip:192.168.2.1', samp_rate=2e6, freq=2.4e9, address='tcp://127.0.0.1:5555'):
        gr.top_block.__init__(self, "ADALM-Pluto (gr-iio) source -> ZMQ PUB: diffradio rx", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.uri = uri
        self.samp_rate = samp_rate
        self.freq = freq
        self.address = address

        ##################################################
        # Blocks
        ##################################################

        self.zeromq_pub_sink_0 = zeromq.pub_sink(gr.sizeof_gr_complex, 1, address, 100, False, (-1), '', True)
        self.iio_pluto_source_0 = iio.fmcomms2_source_fc32(uri if uri else iio.get_pluto_uri(), [True, True], 32768)
        self.iio_pluto_source_0.set_len_tag_key('')
        self.iio_pluto_source_0.set_frequency(int(freq))
        self.iio_pluto_source_0.set_samplerate(int(samp_rate))
        self.iio_pluto_source_0.set_gain_mode(0, 'fast_attack')
        self.iio_pluto_source_0.set_gain(0, 64)
        self.iio_pluto_source_0.set_quadrature(True)
        self.iio_pluto_source_0.set_rfdc(True)
        self.iio_pluto_source_0.set_bbdc(True)
        self.iio_pluto_source_0.set_filter_params('Auto', '', 0, 0)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.iio_pluto_source_0, 0), (self.zeromq_pub_sink_0, 0))


    def get_uri(self):
        return self.uri

    def set_uri(self, uri):
        self.uri = uri

    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate
        self.iio_pluto_source_0.set_samplerate(int(self.samp_rate))

    def get_freq(self):
        return self.freq

    def set_freq(self, freq):
        self.freq = freq
        self.iio_pluto_source_0.set_frequency(int(self.freq))

    def get_address(self):
        return self.address

    def set_address(self, address):
        self.address = address



def argument_parser():
    description = 'Pluto receive (gr-iio, fast_attack AGC) into a ZMQ PUB sink (binds); then: diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6,freq=2.4e9 --out rx-{n}.png'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "-u", "--uri", dest="uri", type=str, default='ip:192.168.2.1',
        help="Set libiio URI of the Pluto [default=%(default)r]")
    parser.add_argument(
        "-r", "--samp-rate", dest="samp_rate", type=eng_float, default=eng_notation.num_to_str(float(2e6)),
        help="Set sample rate (S/s) [default=%(default)r]")
    parser.add_argument(
        "-f", "--freq", dest="freq", type=eng_float, default=eng_notation.num_to_str(float(2.4e9)),
        help="Set centre frequency (Hz) [default=%(default)r]")
    parser.add_argument(
        "-a", "--address", dest="address", type=str, default='tcp://127.0.0.1:5555',
        help="Set ZMQ PUB address (binds) [default=%(default)r]")
    return parser


def main(top_block_cls=pluto_rx_zmq, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(uri=options.uri, samp_rate=options.samp_rate, freq=options.freq, address=options.address)

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
