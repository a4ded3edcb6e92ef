#!/usr/bin/env python3
# -*- coding: utf-8 -*-

#
# SPDX-License-Identifier: GPL-3.0
#
# GNU Radio Python Flow Graph
# Title: USRP (UHD) source -> ZMQ PUB: diffradio rx
# Author: diffradio
# Description: USRP receive into a ZMQ PUB sink (binds); then: diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6,freq=2.4e9 --out rx-{n}.png
# GNU Radio version: 3.10.5.1

from gnuradio import gr
from gnuradio.filter import firdes
from gnuradio.fft import window
import sys
import signal
from argparse import ArgumentParser
from gnuradio.eng_arg import eng_float, intx
from gnuradio import eng_notation
from gnuradio import uhd
import time
from gnuradio import zeromq




class uhd_rx_zmq(gr.top_block):

    def __init__(self, device='', samp_rate=2e6, freq=2.4e9, gain=30, address='tcp://127.0.0.1:5555'):
        gr.top_block.__init__(self, "USRP (UHD) source -> ZMQ PUB: diffradio rx", catch_exceptions=True)

        ##################################################
        # Parameters
        ##################################################
        self.device = device
        self.samp_rate = samp_rate
        self.freq = freq
        self.gain = gain
        self.address = address

        ##################################################
        # Blocks
        ##################################################

        self.zeromq_pub_sink_0 = zeromq.pub_sink(gr.sizeof_gr_complex, 1, address, 100, False, (-1), '', True)
        self.uhd_usrp_source_0 = uhd.usrp_source(
            ",".join((device, '')),
            uhd.stream_args(
                cpu_format="fc32",
                args='',
                channels=list(range(0,1)),
            ),
        )
        self.uhd_usrp_source_0.set_samp_rate(samp_rate)
        # No synchronization enforced.

        self.uhd_usrp_source_0.set_center_freq(freq, 0)
        self.uhd_usrp_source_0.set_antenna('RX2', 0)
        self.uhd_usrp_source_0.set_gain(gain, 0)


        ##################################################
        # Connections
        ##################################################
        self.connect((self.uhd_usrp_source_0, 0), (self.zeromq_pub_sink_0, 0))


    def get_device(self):
        return self.device

    def set_device(self, device):
        self.device = device

    def get_samp_rate(self):
        return self.samp_rate

    def set_samp_rate(self, samp_rate):
        self.samp_rate = samp_rate
        self.uhd_usrp_source_0.set_samp_rate(self.samp_rate)

    def get_freq(self):
        return self.freq

    def set_freq(self, freq):
        self.freq = freq
        self.uhd_usrp_source_0.set_center_freq(self.freq, 0)

    def get_gain(self):
        return self.gain

    def set_gain(self, gain):
        self.gain = gain
        self.uhd_usrp_source_0.set_gain(self.gain, 0)

    def get_address(self):
        return self.address

    def set_address(self, address):
        self.address = address



def argument_parser():
    description = 'USRP receive into a ZMQ PUB sink (binds); then: diffradio rx --radio zmq:sub=tcp://127.0.0.1:5555,rate=2e6,freq=2.4e9 --out rx-{n}.png'
    parser = ArgumentParser(description=description)
    parser.add_argument(
        "-d", "--device", dest="device", type=str, default='',
        help="Set UHD device address (e.g. type=b200) [default=%(default)r]")
    parser.add_argument(
        "-r", "--samp-rate", dest="samp_rate", type=eng_float, default=eng_notation.num_to_str(float(2e6)),
        help="Set sample rate (S/s) [default=%(default)r]")
    parser.add_argument(
        "-f", "--freq", dest="freq", type=eng_float, default=eng_notation.num_to_str(float(2.4e9)),
        help="Set centre frequency (Hz) [default=%(default)r]")
    parser.add_argument(
        "-g", "--gain", dest="gain", type=eng_float, default=eng_notation.num_to_str(float(30)),
        help="Set RX gain (dB) [default=%(default)r]")
    parser.add_argument(
        "-a", "--address", dest="address", type=str, default='tcp://127.0.0.1:5555',
        help="Set ZMQ PUB address (binds) [default=%(default)r]")
    return parser


def main(top_block_cls=uhd_rx_zmq, options=None):
    if options is None:
        options = argument_parser().parse_args()
    tb = top_block_cls(device=options.device, samp_rate=options.samp_rate, freq=options.freq, gain=options.gain, address=options.address)

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
