"""POSTs to addresses admins typed in (Slack, Teams, webhooks), guarded against reaching inside.

A URL an admin registers is a request the server makes on their behalf, so it
could be aimed at the server's own network (a database's port, a cloud
metadata service at 169.254.169.254): server-side request forgery. Only
http(s) is allowed, the host is resolved, and every address it resolves to
must be public, unless `allow_private` (tests, closed networks). The
connection then goes to the very address that was checked, not to a second
lookup that a hostile DNS server could answer differently (DNS rebinding),
and a redirect is an answer, never followed.
"""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 1_000  # the columns that keep hook URLs
MAX_ANSWER = 1024  # of a receiver's answer, for the error message: a little, read quickly
USER_AGENT = "Lessons-Push/1"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

NOT_HTTP = "Only http(s) URLs can receive messages, such as https://hooks.example.org/…"
PRIVATE = ("That address is in a private or loopback range, which Lessons does not call: "
           "set LESSONS_WEBHOOK_ALLOW_PRIVATE=true if this server runs on a closed network.")


class Refused(ValueError):
    """A URL the app will not call; the message says why, in words an admin can act on."""


class PostFailed(Exception):
    """The receiver answered, but not with a 2xx."""


@dataclass(frozen=True)
class Target:
    """Where a POST goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, allow_private: bool) -> str:
    """`url` stripped, if the app may call it; `Refused` saying why not."""
    resolve(url.strip(), allow_private)
    return url.strip()


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float,
              allow_private: bool) -> int:
    """POST `body` to `url` through the guard; the status, or raise on a non-2xx answer or a
    network error."""
    target = resolve(url, allow_private)
    connection = pinned_connection(target, timeout)
    try:
        connection.request("POST", target.path, body=body,
                           headers={"User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER)
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        excerpt = answer[:200].decode("utf-8", "replace")
        raise PostFailed(f"{target.host} answered {response.status} {response.reason}: "
                         f"{excerpt}".strip())
    return response.status


def resolve(url: str, allow_private: bool) -> Target:
    """The URL's parts and the address to connect to; `Refused` unless it is http(s) to a
    host whose every address is public (or `allow_private`)."""
    if len(url) > MAX_URL:
        raise Refused(f"At most {MAX_URL:,} characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Refused(NOT_HTTP)
    if parts.username is not None or parts.password is not None:
        raise Refused("A user name or password in the URL is not sent; leave it out.")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise Refused("The port is not a number from 1 to 65535.") from None
    addresses = lookup(parts.hostname, port)
    if not allow_private and not all(is_public(address) for address in addresses):
        raise Refused(PRIVATE)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme.lower(), parts.hostname, port, path, str(addresses[0]))


def lookup(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (a literal address is itself)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"The host {host} could not be found.") from None
    # An IPv6 link-local address comes back with its zone ("fe80::1%eth0"): part of it.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in found))


def is_public(address: Address) -> bool:
    """Whether `address` is on the public internet: not loopback, private, link-local,
    multicast, reserved or unspecified, nor an IPv6 address carrying such an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is not None and not is_public(carried):
            return False
    # is_global adds what is neither private nor public: 100.64.0.0/10, carriers' NAT.
    return not (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified
                or not address.is_global)


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever the host's name resolves to now."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPSConnection(PinnedHTTPConnection):
    """The same over TLS: the certificate is checked against the host's name."""

    default_port = http.client.HTTPS_PORT  # no ":443" in the Host header

    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def pinned_connection(target: Target, timeout: float) -> PinnedHTTPConnection:
    """A connection to the target's checked address, over TLS for https."""
    if target.scheme == "https":
        return PinnedHTTPSConnection(target, timeout)
    return PinnedHTTPConnection(target, timeout)


def masked(url: str) -> str:
    """A hook URL as pages show it: Slack's and Teams' URLs are their own secret, so only
    the host and the last few characters."""
    parts = urlsplit(url)
    secret = url[len(f"{parts.scheme}://{parts.netloc}"):]
    return f"{parts.scheme}://{parts.netloc}/…{secret[-4:]}" if len(secret) > 1 else url
