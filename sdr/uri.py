"""Radio URIs: ``open_radio('sim:snr=5,cfo=2000')``, ``file:``, ``pluto:``, ``soapy:`` and ``zmq:``.

The one place that knows the backends: it imports each one when a URI names it, and no backend
imports it (they parse their parameters with ``sdr.base.parse_params``).
"""
from __future__ import annotations

from .base import Radio, RadioConfig, RadioError, one_line, parse_params

URI_FORMS = ("sim:[snr=DB,cfo=HZ,channel=awgn|rayleigh|tdl-a..tdl-e,seed=N,...]", "file:PATH.sigmf-meta",
             "pluto:[ip:ADDRESS|usb:[BUS.DEV.INTF]]", "soapy:[driver=NAME,KEY=VALUE,...]",
             "zmq:sub=|pull=|pub=|push=tcp://HOST:PORT[,rate=SPS,freq=HZ,tags=0|1,timeout=S]")


def open_radio(uri: str, config: RadioConfig | None = None) -> Radio:
    """Open the radio named by ``uri`` with ``config`` (default ``RadioConfig()``).

    ``sim:`` and ``sim:snr=5,cfo=2000,channel=tdl-c,seed=1`` (``phy.channel.ChannelConfig`` fields),
    ``file:PATH.sigmf-meta`` (replays an existing capture, records when transmitted to),
    ``pluto:ip:192.168.2.1`` / ``pluto:usb:`` / ``pluto:`` (auto), ``soapy:driver=uhd,serial=...``
    (any SoapySDR device arguments), ``zmq:sub=tcp://127.0.0.1:5555,rate=2e6`` (a GNU Radio flowgraph's
    ZMQ stream: ``sub=``/``pull=`` receive, ``pub=``/``push=`` transmit; ``sdr.zeromq``). Raises RadioError (one line) for an unknown or malformed URI,
    a missing driver library or a device that cannot be found.
    """
    config = config or RadioConfig()
    scheme, sep, rest = uri.strip().partition(":")
    scheme = scheme.lower()
    if scheme == "sim" and sep:
        from .sim import SimRadio

        params = parse_params(rest, uri)
        try:
            return SimRadio.from_uri_params(params, config)
        except (ValueError, TypeError, KeyError) as exc:
            raise RadioError(f"bad channel parameters in {uri!r}: {one_line(exc)}; valid form: {URI_FORMS[0]}") from None
    if scheme == "file" and sep:
        if not rest:
            raise RadioError(f"radio URI {uri!r} names no file; write {URI_FORMS[1]}")
        from .file import FileRadio

        return FileRadio(rest, config)
    if scheme == "pluto" and sep:
        from .pluto import PlutoRadio

        return PlutoRadio(rest, config)
    if scheme == "soapy" and sep:
        from .soapy import SoapyRadio

        return SoapyRadio(rest, config)
    if scheme == "zmq" and sep:
        from .zeromq import ZmqRadio

        return ZmqRadio(rest, config)
    raise RadioError(f"unknown radio URI {uri!r}; valid forms: {', '.join(URI_FORMS)}")
