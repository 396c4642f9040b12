"""Download a reference clip from a URL, safely.

- https only (plain http too when private addresses are allowed: F5_ALLOW_PRIVATE_URLS, for testing);
- the host is resolved once, every address must be public (no loopback, private, link-local,
  cloud-metadata, multicast or reserved range) and the connection goes to that checked address,
  so a DNS answer cannot change between the check and the connection;
- redirects are followed by hand (at most 5), each hop checked the same way;
- one deadline for the whole download, so a server that drips bytes slowly is cut off;
- a size cap enforced on Content-Length and on the bytes actually read.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3

from handler.errors import InputError

MAX_REDIRECTS = 5
_READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses and schemes a reference download may use."""

    allow_http: bool = False
    allow_private: bool = False
    extra_allowed: tuple = ()  # networks allowed on top of public ones (tests allow one loopback address)

    def allows(self, ip) -> bool:
        if self.allow_private or any(ip in net for net in self.extra_allowed):
            return True
        return ip.is_global and not ip.is_multicast and not ip.is_reserved

    @classmethod
    def from_settings(cls, allow_private: bool) -> AddressPolicy:
        return cls(allow_http=allow_private, allow_private=allow_private)


def _check_address(address: str, policy: AddressPolicy, host: str) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not policy.allows(ip):
        raise InputError(
            f"ref_audio URL host {host!r} resolves to {ip}, a loopback, private, link-local or reserved "
            "address; only public addresses are fetched"
        )


def _resolve(host: str, port: int, policy: AddressPolicy) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"ref_audio URL host {host!r} could not be resolved ({exc.strerror})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))  # the resolver's preference order
    for address in addresses:  # every answer must pass, not just the one connected to
        _check_address(address, policy, host)
    return addresses[0]


def _open(url: str, policy: AddressPolicy, timeout: float):
    parts = urlsplit(url)
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in allowed:
        raise InputError(f"ref_audio URL must use {' or '.join(allowed)}, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise InputError("ref_audio URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(parts.hostname, port, policy)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    common = dict(host=address, port=port, timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            **common, server_hostname=parts.hostname, assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED"
        )
    else:
        pool = urllib3.HTTPConnectionPool(**common)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    response = pool.urlopen(
        "GET",
        path,
        headers={"Host": host_header, "User-Agent": "f5-tts-worker", "Accept": "audio/*, */*"},
        redirect=False,
        preload_content=False,
        assert_same_host=False,
    )
    return pool, response


def download(url: str, *, max_bytes: int, timeout_s: float, policy: AddressPolicy) -> bytes:
    deadline = time.monotonic() + timeout_s
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise InputError(f"ref_audio URL did not answer within {timeout_s:g} s")
        try:
            pool, response = _open(current, policy, remaining)
        except InputError:
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise InputError(f"ref_audio URL could not be fetched: {type(exc).__name__}: {exc}") from None
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise InputError(f"ref_audio URL redirected ({response.status}) without a Location")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                raise InputError(f"ref_audio URL answered HTTP {response.status}; it must answer 200 with the audio")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise InputError(f"ref_audio download is {int(declared)} bytes; the limit is {max_bytes} bytes")
            return _read_capped(response, max_bytes, deadline, timeout_s)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise InputError(f"ref_audio download failed: {type(exc).__name__}: {exc}") from None
        finally:
            response.release_conn()
            pool.close()
    raise InputError(f"ref_audio URL redirected more than {MAX_REDIRECTS} times")


def _read_capped(response, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    body = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise InputError(f"ref_audio download took longer than {timeout_s:g} s")
        block = response.read1(_READ_BLOCK)  # what has arrived, so the deadline is checked while bytes drip
        if not block:
            return bytes(body)
        body += block
        if len(body) > max_bytes:
            raise InputError(f"ref_audio download is larger than the {max_bytes}-byte limit")
