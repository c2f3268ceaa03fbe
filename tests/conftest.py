"""Shared fixtures: the real packaged model (loaded once per session) and a real Chroma
index of the real corpus, built once per session in a temporary directory."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def embedder():
    from assistant.embed import Embedder

    return Embedder().load()


@pytest.fixture(scope="session")
def token_counter():
    from assistant.embed import TokenCounter

    return TokenCounter()


@pytest.fixture(scope="session")
def corpus_location(tmp_path_factory, embedder):
    """A complete index of the real corpus in a temporary data directory."""
    from assistant.store import StoreLocation
    from ingest.pipeline import run_ingest

    location = StoreLocation(tmp_path_factory.mktemp("corpus-data"))
    run_ingest([CORPUS], location, embedder=embedder)
    return location


@pytest.fixture(scope="session")
def corpus_assistant(corpus_location, embedder):
    from assistant.core import Assistant

    return Assistant(corpus_location, embedder=embedder)


def _is_loopback(address) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    else:
        return True  # AF_UNIX paths stay on the machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any connection that would leave the machine."""
    attempts: list = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address):
        if not _is_loopback(address):
            attempts.append(address)
            raise ConnectionRefusedError(f"outbound connection blocked in tests: {address!r}")

    def connect(self, address):
        guard(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback((host, 0)):
            attempts.append(("dns", host))
            raise socket.gaierror(f"name lookup blocked in tests: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts
