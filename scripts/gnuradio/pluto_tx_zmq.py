#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: ZMQ SUB -> ADALM-Pluto (gr-iio) sink: diffradio tx
# Author: diffradio
# Description: diffradio tx --radio zmq:pub=tcp://127.0.0.1:5556,rate=2e6 --image photo.png --repeat 60 feeds this flowgraph's ZMQ SUB source (connects), which a Pluto transmits (gr-iio)
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




class pluto_tx_zmq(gr.top_block):

    def __init__(self, uri='ip:192.168.2.1', samp_rate=2e6, freq=2.4e9, attenuation=10, address='tcp://127.0.0.1:5556'):
        gr.top_block.__init__(self, "ZMQ SUB -> ADALM-Pluto (gr-iio) sink: diffradio tx", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.uri = uri
        self.samp_rate = samp_rate
        self.freq = freq
        self.attenuation = attenuation
        self.address = address

        ##################################################
        # Blocks
        ##################################################

        self.zeromq_sub_source_0 = zeromq.sub_source(gr.sizeof_gr_complex, 1, address, 100, False, (-1), '')
        self.iio_pluto_sink_0 = iio.fmcomms2_sink_fc32(uri if uri else iio.get_pluto_uri(), [True, True], 32768, False)
        self.iio_pluto_sink_0.set_len_tag_key('')
        self.iio_pluto_sink_0.set_bandwidth(int(samp_rate))
        self.iio_pluto_sink_0.set_frequency(int(freq))
        self.iio_pluto_sink_0.set_samplerate(int(samp_rate))
        self.iio_pluto_sink_0.set_attenuation(0, attenuation)
        self.iio_pluto_sink_0.set_filter_params('Auto', '', 0, 0)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.zeromq_sub_source_0, 0), (self.iio_pluto_sink_0, 0))


    def get_uri(self):
        return self.uri

    def set_uri(self, uri):
        self.uri = uri

    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate
        self.iio_pluto_sink_0.set_bandwidth(int(self.samp_rate))
        self.iio_pluto_sink_0.set_samplerate(int(self.samp_rate))

    def get_freq(self):
        return self.freq

    def set_freq(self, freq):
        self.freq = freq
        self.iio_pluto_sink_0.set_frequency(int(self.freq))

    def get_attenuation(self):
        return self.attenuation

    def set_attenuation(self, attenuation):
        self.attenuation = attenuation
        self.iio_pluto_sink_0.set_attenuation(0,self.attenuation)

    def get_address(self):
        return self.address

    def set_address(self, address):
        self.address = address



def argument_parser():
    description = "diffradio tx --radio zmq:pub=tcp://127.0.0.1:5556,rate=2e6 --image photo.png --repeat 60 feeds this flowgraph's ZMQ SUB source (connects), which a Pluto transmits (gr-iio)"
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
        "-t", "--attenuation", dest="attenuation", type=eng_float, default=eng_notation.num_to_str(float(10)),
        help="Set TX attenuation (dB, 0 = full power) [default=%(default)r]")
    parser.add_argument(
        "-a", "--address", dest="address", type=str, default='tcp://127.0.0.1:5556',
        help="Set ZMQ address of diffradio tx (connects) [default=%(default)r]")
    return parser


def main(top_block_cls=pluto_tx_zmq, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(uri=options.uri, samp_rate=options.samp_rate, freq=options.freq, attenuation=options.attenuation, address=options.address)

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
