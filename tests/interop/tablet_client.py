#!/usr/bin/env python3
"""A vigie/1 tablet written from protocols/proto/vigie.proto and
protocols/README.md alone, with aioquic and protobuf (no Vigie code).

Modes:
  ok       connect with the unit's certificate, send a position datagram,
           ask the HTTP API for an order, receive it, acknowledge it, check
           the receipt and the picture; prints "OK ..." and exits 0.
  no-cert  connect without a client certificate; prints "REFUSED <reason>"
           and exits 0 if the server refuses, exits 1 if it lets us in.
  foreign-ca
           the same with a certificate for the unit that we sign ourselves
           (a CA the server does not trust).
  issued   the same with the unit's issued certificate (use it for a unit
           whose certificate was revoked).

Every wait is bounded; the whole run is bounded by --timeout seconds.
"""

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, StreamDataReceived


def load_proto(proto_path):
    """Compiles the .proto with grpcio-tools' bundled protoc and imports it."""
    out = tempfile.mkdtemp(prefix="vigie-proto-")
    proto_dir, proto_file = os.path.split(os.path.abspath(proto_path))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}", proto_file],
        check=True,
    )
    sys.path.insert(0, out)
    import vigie_pb2  # noqa: E402  (generated just above)

    return vigie_pb2


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(msg):
    body = msg.SerializeToString()
    return varint(len(body)) + body


class Tablet(QuicConnectionProtocol):
    """Collects ServerMessages from the control stream into a queue."""

    def __init__(self, *args, pb=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pb = pb
        self.buf = b""
        self.messages = asyncio.Queue()
        self.terminated = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.buf += event.data
            while True:
                length, shift, i = 0, 0, 0
                while i < len(self.buf):
                    b = self.buf[i]
                    length |= (b & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not b & 0x80:
                        break
                else:
                    return
                if len(self.buf) < i + length:
                    return
                msg = self.pb.ServerMessage()
                msg.ParseFromString(self.buf[i : i + length])
                self.buf = self.buf[i + length :]
                self.messages.put_nowait(msg)
        elif isinstance(event, ConnectionTerminated):
            if not self.terminated.done():
                self.terminated.set_result(event)

    def send_frame(self, stream_id, msg):
        self._quic.send_stream_data(stream_id, frame(msg))
        self.transmit()

    async def expect(self, kind, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {timeout} s")
            done, _ = await asyncio.wait(
                [asyncio.ensure_future(self.messages.get()), self.terminated],
                timeout=left,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self.terminated in done:
                ev = self.terminated.result()
                raise ConnectionError(f"closed by server: code {ev.error_code} {ev.reason_phrase}")
            for task in done:
                msg = task.result()
                if msg.WhichOneof("body") == kind:
                    return getattr(msg, kind)


TOKEN = None  # operator bearer token for the HTTP API (--token)


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if TOKEN:
        headers["authorization"] = f"Bearer {TOKEN}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def foreign_cert(unit):
    """A certificate named like an issued one (CN=unit, OU=patrol, O=Vigie,
    client-auth usage) but signed by a CA of our own; PEM file paths."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the Vigie CA")])
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vigie"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "patrol"),
            x509.NameAttribute(NameOID.COMMON_NAME, unit),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = tempfile.mkdtemp(prefix="vigie-foreign-")
    cert_path, key_path = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def configuration(args, cert):
    """cert: "issued" (the unit's files), "foreign-ca" or None."""
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["vigie/1"], max_datagram_frame_size=65536)
    cfg.server_name = "vigie-ground"
    cfg.verify_mode = ssl.CERT_REQUIRED
    cfg.load_verify_locations(os.path.join(args.certs, "ca.pem"))
    if cert == "issued":
        cfg.load_cert_chain(
            os.path.join(args.certs, f"{args.unit}.cert.pem"), os.path.join(args.certs, f"{args.unit}.key.pem")
        )
    elif cert == "foreign-ca":
        cfg.load_cert_chain(*foreign_cert(args.unit))
    return cfg


async def run_ok(args, pb):
    host, port = args.quic.rsplit(":", 1)
    create = lambda *a, **k: Tablet(*a, pb=pb, **k)  # noqa: E731
    async with connect(host, int(port), configuration=configuration(args, "issued"), create_protocol=create) as t:
        control = t._quic.get_next_available_stream_id()
        hello = pb.ClientMessage(hello=pb.Hello(protocol_version=1, client_software="python-interop/1"))
        t.send_frame(control, hello)
        welcome = await t.expect("welcome")
        assert welcome.unit_id == args.unit, welcome
        assert welcome.role == "patrol", welcome

        now = int(time.time() * 1000)
        pos = pb.ClientMessage(
            position=pb.PositionReport(lat_deg=48.9245, lon_deg=2.3602, accuracy_m=3, heading_deg=45, speed_m_s=1.2, timestamp_ms=now)
        )
        t._quic.send_datagram_frame(pos.SerializeToString())
        t.transmit()

        issued = http(
            "POST",
            f"http://{args.http}/api/v1/patrols/{args.unit}/orders",
            {"lat_deg": 48.926, "lon_deg": 2.361, "priority": "high", "instructions": "interop gate B"},
        )
        order = await t.expect("order")
        assert order.order_id == issued["order_id"], (order, issued)
        assert order.priority == pb.PRIORITY_HIGH
        assert order.instructions == "interop gate B"

        ack = pb.ClientMessage(
            order_ack=pb.OrderAck(message_id="py-ack-1", order_id=order.order_id, kind=pb.ACK_KIND_RECEIVED, at_ms=now)
        )
        t.send_frame(control, ack)
        receipt = await t.expect("receipt")
        assert receipt.message_id == "py-ack-1" and not receipt.duplicate, receipt

        listed = http("GET", f"http://{args.http}/api/v1/patrols/{args.unit}/orders")
        assert listed["orders"][-1]["state"] == "received", listed

        deadline = time.monotonic() + 10
        while True:
            unit = next((u for u in http("GET", f"http://{args.http}/api/v1/units")["units"] if u["id"] == args.unit), None)
            if unit and unit.get("position") and unit["patrol"]["connected"]:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{args.unit} not in the picture with a position: {unit}")
            await asyncio.sleep(0.1)
        print(f"OK unit={welcome.unit_id} order={order.order_id} lat={unit['position']['lat_deg']}")


async def run_refused(args, pb):
    """Connects with the certificate --mode names; the server must refuse."""
    host, port = args.quic.rsplit(":", 1)
    create = lambda *a, **k: Tablet(*a, pb=pb, **k)  # noqa: E731
    cert = None if args.mode == "no-cert" else args.mode
    try:
        async with connect(host, int(port), configuration=configuration(args, cert), create_protocol=create) as t:
            control = t._quic.get_next_available_stream_id()
            t.send_frame(control, pb.ClientMessage(hello=pb.Hello(protocol_version=1)))
            welcome = await t.expect("welcome", timeout=5)
    except (ConnectionError, TimeoutError) as e:
        print(f"REFUSED {e}")
        return
    print(f"ACCEPTED with mode {args.mode}: {welcome}")
    sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quic", required=True, help="host:port of the QUIC listener")
    p.add_argument("--http", required=True, help="host:port of the HTTP API")
    p.add_argument("--certs", required=True, help="directory with ca.pem and the unit's PEM files")
    p.add_argument("--unit", default="P17")
    p.add_argument("--proto", required=True, help="path to vigie.proto")
    p.add_argument("--mode", choices=["ok", "no-cert", "foreign-ca", "issued"], default="ok")
    p.add_argument("--timeout", type=float, default=40)
    p.add_argument("--token", help="operator bearer token for the HTTP API (vigie token issue)")
    args = p.parse_args()
    global TOKEN
    TOKEN = args.token
    pb = load_proto(args.proto)
    run = run_ok if args.mode == "ok" else run_refused
    asyncio.run(asyncio.wait_for(run(args, pb), args.timeout))


if __name__ == "__main__":
    main()
