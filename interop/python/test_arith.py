#!/usr/bin/env python3
"""Interop test: a MessagePack-RPC client written from the spec, in Python,
against the arith example server (examples/arith/server) over TCP.

It speaks the raw protocol over a socket with Debian's python3-msgpack:
request [0, msgid, method, params], response [1, msgid, error, result],
notification [2, method, params]. Messages are often assembled from raw
bytes so that the test controls every encoding detail (int widths, str vs
bin, float32).

Usage: test_arith.py HOST:PORT   (or FERRY_ADDR=HOST:PORT)
Prints one line per check and a final line "N passed, N failed"; exits
non-zero if any check failed.
"""

import os
import socket
import struct
import sys
import time

import msgpack

TIMEOUT = 10.0  # seconds to wait for any one response


def pack(v):
    """Packs v the way a careful client does: str as str, bytes as bin."""
    return msgpack.packb(v, use_bin_type=True)


def p_uint32(n):
    """A non-minimal encoding: n as uint32 whatever its size."""
    return b"\xce" + struct.pack(">I", n)


def p_int64(n):
    """A non-minimal encoding: n as int64 whatever its size."""
    return b"\xd3" + struct.pack(">q", n)


def p_array(*items):
    """An array of already packed items."""
    n = len(items)
    assert n < 16
    return bytes([0x90 | n]) + b"".join(items)


def request(msgid, method, params, raw_id=None, raw_method=None):
    """Raw bytes of [0, msgid, method, params]; params is a list of Python
    values or bytes already packed (an array)."""
    if not isinstance(params, (bytes, bytearray)):
        params = pack(params)
    return (b"\x94" + b"\x00" + (raw_id if raw_id is not None else pack(msgid))
            + (raw_method if raw_method is not None else pack(method)) + params)


def notification(method, params):
    return pack([2, method, params])


class Conn:
    """One TCP connection with a streaming unpacker. recv returns the next
    message decoded and its exact bytes."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                         max_buffer_size=64 << 20)
        self.data = bytearray()  # every byte received, for exact comparisons
        self.pos = 0  # where the next message starts in data

    def send(self, b):
        self.sock.sendall(b)

    def recv(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        while True:
            try:
                msg = self.unpacker.unpack()
                start, self.pos = self.pos, self.unpacker.tell()
                return msg, bytes(self.data[start:self.pos])
            except msgpack.OutOfData:
                pass
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self.data += chunk
            self.unpacker.feed(chunk)

    def recv_response(self):
        msg, raw = self.recv()
        if not (isinstance(msg, list) and len(msg) == 4 and msg[0] == 1):
            raise AssertionError("not a 4-element response: %r" % (msg,))
        return msg, raw

    def call(self, msgid, method, params):
        """Sends one request and returns (error, result) of its response."""
        self.send(request(msgid, method, params))
        msg, _ = self.recv_response()
        if msg[1] != msgid:
            raise AssertionError("response msgid %r, want %r" % (msg[1], msgid))
        return msg[2], msg[3]

    def close(self):
        self.sock.close()


def expect(got, want, what=""):
    """Fails with both values shown when got != want."""
    if got != want:
        raise AssertionError("%sgot %r, want %r" % (what + ": " if what else "", got, want))


# The checks. Each takes the server address and raises AssertionError (or
# any exception) to fail.

def check_add(addr):
    c = Conn(addr)
    try:
        expect(c.call(1, "Arith.Add", [3, 4]), (None, 7))
        expect(c.call(2, "Arith.Add", [-10, 3]), (None, -7))
    finally:
        c.close()


def check_add_int64_extremes(addr):
    c = Conn(addr)
    try:
        expect(c.call(1, "Arith.Add", [-(2**63), 0]), (None, -(2**63)))
        expect(c.call(2, "Arith.Add", [2**63 - 2, 1]), (None, 2**63 - 1))
    finally:
        c.close()


def check_non_minimal_int_params(addr):
    c = Conn(addr)
    try:
        c.send(request(1, "Arith.Add", p_array(p_uint32(3), p_int64(4))))
        msg, _ = c.recv_response()
        assert msg[1:] == [1, None, 7], msg
    finally:
        c.close()


def check_div(addr):
    c = Conn(addr)
    try:
        expect(c.call(1, "Arith.Div", [7, 2]), (None, 3))
        expect(c.call(2, "Arith.Div", [-7, 2]), (None, -3), "truncate toward zero")
        expect(c.call(3, "Arith.Div", [7, -2]), (None, -3), "truncate toward zero")
    finally:
        c.close()


def check_div_by_zero_then_connection_kept(addr):
    c = Conn(addr)
    try:
        err, result = c.call(1, "Arith.Div", [1, 0])
        assert isinstance(err, str), "error is %r, want a str" % (err,)
        assert "division by zero" in err, err
        assert result is None, result
        expect(c.call(2, "Arith.Add", [1, 2]), (None, 3), "connection unusable after an error")
    finally:
        c.close()


def check_unknown_method(addr):
    c = Conn(addr)
    try:
        err, result = c.call(1, "Nope.Nothing", [1])
        assert isinstance(err, str) and err, "error is %r, want a non-empty str" % (err,)
        assert result is None, result
        expect(c.call(2, "Arith.Add", [2, 2]), (None, 4), "connection unusable after an error")
    finally:
        c.close()


def check_method_name_as_bin(addr):
    c = Conn(addr)
    try:
        c.send(request(5, None, [20, 22], raw_method=pack(b"Arith.Add")))
        msg, _ = c.recv_response()
        assert msg[1:] == [5, None, 42], msg
    finally:
        c.close()


def check_pipelined_one_write(addr):
    c = Conn(addr)
    try:
        batch = b"".join(request(100 + i, "Arith.Add", [i, i]) for i in range(20))
        batch += request(200, "Echo.Echo", ["x" * 100000])
        c.send(batch)
        got = {}
        for _ in range(21):
            msg, _ = c.recv_response()
            assert msg[1] not in got, "duplicate response %r" % msg[1]
            got[msg[1]] = (msg[2], msg[3])
        for i in range(20):
            assert got[100 + i] == (None, 2 * i), (i, got.get(100 + i))
        assert got[200] == (None, "x" * 100000)
    finally:
        c.close()


def check_one_byte_writes(addr):
    c = Conn(addr)
    try:
        for b in request(77, "Arith.Add", [40, 2]):
            c.send(bytes([b]))
        msg, _ = c.recv_response()
        assert msg[1:] == [77, None, 42], msg
        # A second, longer request the same way, with the params array split.
        for b in request(78, "Echo.Echo", [{"k": [1, 2, 3], 9: None}]):
            c.send(bytes([b]))
        msg, _ = c.recv_response()
        assert msg[1:] == [78, None, {"k": [1, 2, 3], 9: None}], msg
    finally:
        c.close()


def check_msgid_edges(addr):
    c = Conn(addr)
    try:
        expect(c.call(0, "Arith.Add", [1, 1]), (None, 2), "msgid 0")
        expect(c.call(2**32 - 1, "Arith.Add", [1, 2]), (None, 3), "msgid 2^32-1")
        # msgid 5 sent as uint32 (0xce 00 00 00 05), not the minimal fixint.
        c.send(request(None, "Arith.Add", [2, 3], raw_id=p_uint32(5)))
        msg, _ = c.recv_response()
        assert msg[1:] == [5, None, 5], "uint32-encoded msgid: %r" % (msg,)
        # msgid 6 as uint64 and 2^31 as float64 (as one JavaScript client does).
        c.send(request(None, "Arith.Add", [3, 3], raw_id=b"\xcf" + struct.pack(">Q", 6)))
        msg, _ = c.recv_response()
        assert msg[1:] == [6, None, 6], "uint64-encoded msgid: %r" % (msg,)
        c.send(request(None, "Arith.Add", [4, 4], raw_id=b"\xcb" + struct.pack(">d", 2.0**31)))
        msg, _ = c.recv_response()
        assert msg[1:] == [2**31, None, 8], "float64 msgid: %r" % (msg,)
    finally:
        c.close()


def check_notifications_never_answered(addr):
    c = Conn(addr)
    try:
        # Notifications of every kind: a good call, an error, an unknown
        # method. Each is followed by a request; the only responses that may
        # come back are the requests'.
        c.send(notification("Arith.Add", [1, 2]))
        c.send(request(1, "Arith.Add", [1, 1]))
        c.send(notification("Arith.Div", [1, 0]) + request(2, "Arith.Add", [2, 2]))
        c.send(notification("Nope.Nothing", []) + request(3, "Arith.Add", [3, 3]))
        c.send(notification("Echo.Echo", ["x" * 1000]))
        seen = []
        for _ in range(3):
            msg, _ = c.recv_response()
            seen.append(msg[1])
        assert sorted(seen) == [1, 2, 3], "responses %r, want msgids 1, 2, 3" % seen
        # A last request, sent after everything else: if the server answered
        # a notification, that answer would come before this response.
        expect(c.call(4, "Arith.Add", [4, 4]), (None, 8))
        # And nothing more arrives afterwards.
        try:
            msg, _ = c.recv(timeout=0.3)
            raise AssertionError("unexpected message %r" % (msg,))
        except socket.timeout:
            pass
    finally:
        c.close()


def check_responses_matched_by_msgid(addr):
    c = Conn(addr)
    try:
        # A large echo first, then small calls: the server may answer in any
        # order; every response is matched by its msgid.
        ids = [9, 3, 1000, 2**32 - 2, 42, 7]
        big = "y" * 300000
        c.send(request(ids[0], "Echo.Echo", [big]) + b"".join(
            request(i, "Arith.Add", [i % 1000, 1]) for i in ids[1:]))
        got = {}
        for _ in ids:
            msg, _ = c.recv_response()
            got[msg[1]] = (msg[2], msg[3])
        assert sorted(got) == sorted(ids), got.keys()
        assert got[ids[0]] == (None, big)
        for i in ids[1:]:
            assert got[i] == (None, i % 1000 + 1), (i, got[i])
    finally:
        c.close()


# Echo values: (name, packed value). The response's result must be the same
# value, and its bytes the same bytes.
ECHO_VALUES = [
    ("str", pack("héllo, ferry")),
    ("bin", pack(b"\x00\x01\xfe\xff")),
    ("empty str", pack("")),
    ("empty bin", pack(b"")),
    ("int64 min", pack(-(2**63))),
    ("int64 max", pack(2**63 - 1)),
    ("uint64 max", pack(2**64 - 1)),
    ("non-minimal int (int64 1)", p_int64(1)),
    ("float64", pack(3.141592653589793)),
    ("float32", b"\xca" + struct.pack(">f", 1.5)),
    ("negative float", pack(-2.5e-300)),
    ("nil", pack(None)),
    ("bool", pack([True, False])),
    ("nested arrays", pack([1, [2, [3, [4, []]]], ["a", [b"b"]]])),
    ("map with integer keys", pack({1: "one", -2: "minus two", 2**40: [1], 0: {3: 4}})),
    ("map with str keys", pack({"a": 1, "b": {"c": None}})),
    ("ext", pack(msgpack.ExtType(5, b"abc"))),
    ("200 KB str", pack("z" * (200 * 1024))),
    ("200 KB bin", pack(os.urandom(200 * 1024))),
]


def make_echo_check(packed):
    def check(addr):
        c = Conn(addr)
        try:
            c.send(request(11, "Echo.Echo", b"\x91" + packed))
            msg, raw = c.recv_response()
            assert msg[1] == 11 and msg[2] is None, msg[:3]
            want = msgpack.unpackb(packed, raw=False, strict_map_key=False)
            assert type(msg[3]) is type(want), "type %s, want %s" % (type(msg[3]).__name__, type(want).__name__)
            assert msg[3] == want, "value differs"
            # The whole response, byte for byte: [1, 11, nil, x] with x as sent.
            assert raw == b"\x94\x01\x0b\xc0" + packed, "response bytes differ from [1, 11, nil, x]"
        finally:
            c.close()
    return check


def check_str_and_bin_stay_apart(addr):
    c = Conn(addr)
    try:
        err, result = c.call(1, "Echo.Echo", [["text", b"text"]])
        assert err is None, err
        assert result == ["text", b"text"], result
        assert isinstance(result[0], str) and isinstance(result[1], bytes), result
    finally:
        c.close()


def check_many_connections(addr):
    conns = [Conn(addr) for _ in range(10)]
    try:
        for i, c in enumerate(conns):
            c.send(request(i, "Arith.Add", [i, 1]))
        for i, c in enumerate(conns):
            msg, _ = c.recv_response()
            assert msg[1:] == [i, None, i + 1], msg
    finally:
        for c in conns:
            c.close()


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FERRY_ADDR", "")
    if ":" not in target:
        print("usage: test_arith.py HOST:PORT (or FERRY_ADDR)", file=sys.stderr)
        return 2
    host, port = target.rsplit(":", 1)
    addr = (host, int(port))

    checks = [
        ("Arith.Add", check_add),
        ("Arith.Add at the int64 extremes", check_add_int64_extremes),
        ("params with non-minimal int widths", check_non_minimal_int_params),
        ("Arith.Div truncates toward zero", check_div),
        ("Arith.Div by zero: str error, connection kept", check_div_by_zero_then_connection_kept),
        ("unknown method: error response, connection kept", check_unknown_method),
        ("method name sent as bin", check_method_name_as_bin),
        ("21 requests pipelined in one write", check_pipelined_one_write),
        ("requests split into 1-byte writes", check_one_byte_writes),
        ("msgid 0, 2^32-1, uint32/uint64-encoded, float64", check_msgid_edges),
        ("notifications never answered", check_notifications_never_answered),
        ("responses matched by msgid, any order", check_responses_matched_by_msgid),
        ("Echo keeps str and bin apart", check_str_and_bin_stay_apart),
        ("10 connections at once", check_many_connections),
    ]
    checks += [("Echo " + name, make_echo_check(packed)) for name, packed in ECHO_VALUES]

    passed = failed = 0
    for name, check in checks:
        start = time.monotonic()
        try:
            check(addr)
        except Exception as e:  # any failure, assertion or I/O, fails the check
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        else:
            passed += 1
            print("ok   %s (%.0f ms)" % (name, 1000 * (time.monotonic() - start)), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
