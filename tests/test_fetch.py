"""Reference downloads against real HTTP servers on loopback addresses."""

import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from handler.errors import InputError
from handler.fetch import AddressPolicy, _check_address, download

BODY = b"RIFF" + b"x" * 5000


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = {
            "/ok": lambda: self._send(BODY),
            "/big": lambda: self._send(b"x" * 50_000),
            "/lying": lambda: self._send(b"x" * 50_000, length=100),
            "/no-length": lambda: self._send(b"x" * 50_000, length=False),  # HTTP/1.0: ends when the server closes
            "/slow": self._slow,
            "/404": lambda: self._send(b"nope", status=404),
            "/to-ok": lambda: self._redirect(f"http://127.0.0.1:{self.server.server_port}/ok"),
            "/to-other-loopback": lambda: self._redirect(f"http://127.0.0.2:{self.server.server_port}/ok"),
            "/to-metadata": lambda: self._redirect("http://169.254.169.254/latest/meta-data/"),
            "/loop": lambda: self._redirect("/loop"),
        }
        routes.get(self.path, lambda: self._send(b"", status=404))()

    def _send(self, body, status=200, length=None):
        self.send_response(status)
        if length is not False:
            self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow(self):
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()


# allow exactly one loopback address, so redirects elsewhere are judged by the real rule
ONLY_127_0_0_1 = AddressPolicy(allow_http=True, extra_allowed=(ipaddress.ip_network("127.0.0.1/32"),))


def fetch(url, policy=ONLY_127_0_0_1, max_bytes=10_000, timeout=3.0):
    return download(url, max_bytes=max_bytes, timeout_s=timeout, policy=policy)


def test_download(server):
    assert fetch(f"http://127.0.0.1:{server}/ok") == BODY


def test_redirect_is_followed(server):
    assert fetch(f"http://127.0.0.1:{server}/to-ok") == BODY


@pytest.mark.parametrize("route", ["/to-other-loopback", "/to-metadata"])
def test_redirect_to_a_private_address_is_refused(server, route):
    with pytest.raises(InputError, match="only public addresses"):
        fetch(f"http://127.0.0.1:{server}{route}")


def test_loopback_is_refused_by_default(server):
    with pytest.raises(InputError, match="must use https"):
        fetch(f"http://127.0.0.1:{server}/ok", policy=AddressPolicy.from_settings(False))
    with pytest.raises(InputError, match="only public addresses"):
        fetch(f"https://127.0.0.1:{server}/ok", policy=AddressPolicy.from_settings(False))
    with pytest.raises(InputError, match="only public addresses"):
        fetch(f"https://localhost:{server}/ok", policy=AddressPolicy.from_settings(False))


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "240.0.0.1"],
)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(InputError, match="only public addresses"):
        _check_address(address, AddressPolicy(), "host")


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    _check_address(address, AddressPolicy(), "host")


def test_size_cap_on_content_length(server):
    with pytest.raises(InputError, match="limit is 10000 bytes"):
        fetch(f"http://127.0.0.1:{server}/big")


def test_size_cap_on_a_declared_length_over_the_limit_even_if_the_body_differs(server):
    with pytest.raises(InputError, match="download is 100 bytes; the limit is 50 bytes"):
        fetch(f"http://127.0.0.1:{server}/lying", max_bytes=50)


def test_size_cap_on_bytes_read_when_no_length_is_declared(server):
    """No Content-Length to refuse up front: the cap holds on the bytes as they are read."""
    with pytest.raises(InputError, match="larger than the 10000-byte limit"):
        fetch(f"http://127.0.0.1:{server}/no-length", max_bytes=10_000)
    assert len(fetch(f"http://127.0.0.1:{server}/no-length", max_bytes=50_000)) == 50_000  # up to the cap: all of it


def test_a_slow_server_is_cut_off_at_the_deadline(server):
    started = time.monotonic()
    with pytest.raises(InputError, match=r"longer than 1 s|within 1 s|timed out|Read timed out"):
        fetch(f"http://127.0.0.1:{server}/slow", timeout=1.0)
    assert time.monotonic() - started < 3.0


def test_http_errors_and_redirect_loops(server):
    with pytest.raises(InputError, match="HTTP 404"):
        fetch(f"http://127.0.0.1:{server}/404")
    with pytest.raises(InputError, match="redirected more than 5 times"):
        fetch(f"http://127.0.0.1:{server}/loop")


@pytest.mark.parametrize(
    "url, policy, needle",
    [
        ("ftp://example.com/a.wav", AddressPolicy(), "must use https, not 'ftp'"),
        ("file:///etc/passwd", AddressPolicy(), "must use https, not 'file'"),
        ("http://example.com/a.wav", AddressPolicy(), "must use https, not 'http'"),
        ("ftp://127.0.0.1/a.wav", ONLY_127_0_0_1, "must use https or http, not 'ftp'"),  # plain http allowed, ftp still not
        ("//example.com/a.wav", AddressPolicy(), "must use https, not 'no scheme'"),
        ("https:///nohost", AddressPolicy(), "has no host"),
    ],
)
def test_other_schemes_are_refused(url, policy, needle):
    with pytest.raises(InputError, match=needle):
        fetch(url, policy=policy)


def test_unresolvable_host():
    with pytest.raises(InputError, match="could not be resolved"):
        fetch("https://no-such-host.invalid/a.wav", policy=AddressPolicy())
