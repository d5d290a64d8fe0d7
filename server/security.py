"""Who may connect: loopback and ipc endpoints are local-only; anything else needs ZeroMQ CURVE.

Remote use (a shared GPU box) is opt-in because the daemon runs a model on whatever it is sent; an
unauthenticated port on a network interface would be an open compute service.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

LOCAL_HOSTNAMES = ("localhost",)


class SecurityConfigError(Exception):
    """The endpoint and key options do not make a safe configuration; the message says what to do."""


@dataclass(frozen=True)
class CurveConfig:
    secret_key_file: str
    authorized_keys_dir: str


def endpoint_is_local(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address; `*`, 0.0.0.0 and other hosts are remote."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host in LOCAL_HOSTNAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', interface names and DNS names may reach the network


def check_endpoint(endpoint: str, curve: CurveConfig | None) -> None:
    if curve is None and not endpoint_is_local(endpoint):
        raise SecurityConfigError(
            f"refusing to bind {endpoint}: it is not a loopback address, and remote use needs authentication. "
            "Pass --curve-secret-key FILE (the server's secret certificate) and --curve-authorized-keys DIR "
            "(public certificates of allowed clients), or bind tcp://127.0.0.1:PORT. See docs/PROTOCOL.md, "
            "'Remote use'.")
    if curve is not None:
        if not os.path.isfile(curve.secret_key_file):
            raise SecurityConfigError(f"--curve-secret-key {curve.secret_key_file}: no such file")
        if not os.path.isdir(curve.authorized_keys_dir):
            raise SecurityConfigError(f"--curve-authorized-keys {curve.authorized_keys_dir}: no such directory")


def enable_curve(context: zmq.Context, socket: zmq.Socket, curve: CurveConfig) -> ThreadAuthenticator:
    """Make `socket` a CURVE server that admits only the public keys in `authorized_keys_dir`."""
    try:
        public, secret = zmq.auth.load_certificate(curve.secret_key_file)
    except (OSError, ValueError) as exc:
        raise SecurityConfigError(f"cannot read the CURVE certificate {curve.secret_key_file}: {exc}") from None
    if not secret:
        raise SecurityConfigError(f"{curve.secret_key_file} holds no secret key (pass the .key_secret file)")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=curve.authorized_keys_dir)
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return auth
