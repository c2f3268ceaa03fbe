"""Network guard for child processes in tests: put this directory first on PYTHONPATH and set
HHA_NET_GUARD_LOG. Every connection or name lookup that would leave the machine is refused
and recorded, one line each, in that file (loopback and Unix sockets are allowed)."""

import ipaddress
import os
import socket
import traceback

_LOG = os.environ.get("HHA_NET_GUARD_LOG")


def _loopback(host) -> bool:
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    where = "".join(traceback.format_stack(limit=6)[:-2]).replace("\n", " | ")
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(f"pid {os.getpid()}: {what} from {where}\n")


if _LOG:
    _connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def _check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not _loopback(address[0]):
            _record(f"connect {address!r}")
            raise ConnectionRefusedError(f"outbound connection blocked in tests: {address!r}")

    def connect(self, address):
        _check(self, address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not _loopback(name):
            _record(f"getaddrinfo {name!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked in tests: {name!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
