"""Quorum adapter for the shared load generator (../../../shared/bench/peers/loadgen.py).

Loaded with `loadgen.py --adapter-module Benchmarks/peers/quorum_adapter.py --system quorum ...`.
loadgen exec()s this file with `Adapter` and `register` as globals, so it imports nothing from loadgen.

Speaks Quorum's binary client protocol directly over one TCP connection per loadgen client (one adapter
instance = one client thread = one socket), the same protocol `QuorumClient` uses (Sources/QuorumWire):

  frame    := magic u16 0x5155 | version u8 1 | kind u8 (3 request, 4 response) | length u32 | crc32c u32 | payload
  request  := version u8 1 | request id u64 | group u64 (1) | kind u8 | body
              kind 1 write: u32 len | StoreProposal   kind 2 read: linearizable u8 | u32 len | StoreCommand.range
  response := version u8 1 | request id u64 | kind u8 | body
              1 result (u32 len | StoreResult) | 2 notLeader (leader u64 | address string) | 3 failed (string)
              | 5 unavailable (string)
All integers little-endian; byte strings are u32 length + bytes.

- put: a session write (random client id, sequence + 1 per write; a retry after `unavailable` or a lost
  connection reuses the sequence, so it is applied at most once).
- get: a linearizable range read of one key (ReadIndex on the leader).
- notLeader: reconnect to the leader's client address it names (empty: wait 100 ms, try the next endpoint).
- lock_cycle: NOT Quorum's lock recipe (that one needs streaming watches, which this one-socket adapter does
  not speak; measure it with `quorum bench --workload lock`, see run_lock8.sh and docs/locks.md). The mutex
  here is "txn(if version(lock key) == 0 then put(lock key, owner))" retried every `lock_poll` seconds (default
  1 ms) until it succeeds, then a delete: no lease, no waiter queue. Figures from it are labelled accordingly.

Options (--opt key=value): cluster=h:p,h:p,... (fallback endpoints when no leader is known; default: the
loadgen --endpoints value is not visible to adapters, so only this client's endpoint), timeout=<s> (10),
lock_poll=<s> (0.001), serializable=1 (serializable instead of linearizable reads).
"""
import os
import random
import socket
import struct
import time

# ----------------------------------------------------------------------------- CRC-32C (Castagnoli)
# Pure Python, table-driven (reflected polynomial 0x82F63B78, as Sources/QuorumCodec/CRC32C.swift). The generator
# is Python and shares the 2 cores with the servers, so the checksum is made cheap in two ways, both exact:
#  - slicing-by-8 (8 tables, one step per 8 bytes) instead of one step per byte;
#  - a request = a small varying prefix (request id, session sequence) + a command that repeats (each client
#    cycles over 256 keys), and CRC is linear: crc(P || S) = ~(Z_|S|(raw(~0, P)) ^ raw(0, S)), where Z_n is the
#    linear map "feed n zero bytes" (4 byte tables per n) and raw(0, S) is cached per command.


def _crc_tables():
    t0 = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        t0.append(crc)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return [tuple(t) for t in tables]


_T = _crc_tables()
_U32x2 = struct.Struct("<II")


def crc_raw(reg, data, _t=_T, _unpack=struct.unpack_from):
    """Feeds `data` into the raw (not inverted) CRC register `reg`."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _t
    n = len(data)
    full = n >> 3
    if full:
        words = _unpack("<%dI" % (2 * full), data)
        for k in range(0, 2 * full, 2):
            v = reg ^ words[k]
            w = words[k + 1]
            reg = (t7[v & 0xFF] ^ t6[(v >> 8) & 0xFF] ^ t5[(v >> 16) & 0xFF] ^ t4[v >> 24]
                   ^ t3[w & 0xFF] ^ t2[(w >> 8) & 0xFF] ^ t1[(w >> 16) & 0xFF] ^ t0[w >> 24])
    for i in range(full << 3, n):
        reg = t0[(reg ^ data[i]) & 0xFF] ^ (reg >> 8)
    return reg


def crc32c(data):
    return crc_raw(0xFFFFFFFF, data) ^ 0xFFFFFFFF


_ZERO_MAPS = {}


def _zero_map(n):
    """Four byte tables of the linear map 'feed n zero bytes into the register'."""
    m = _ZERO_MAPS.get(n)
    if m is None:
        zeros = bytes(n)
        basis = [crc_raw(1 << j, zeros) for j in range(32)]
        m = []
        for k in range(4):
            tab = [0] * 256
            for b in range(1, 256):
                low = (b & -b).bit_length() - 1
                tab[b] = tab[b & (b - 1)] ^ basis[8 * k + low]
            m.append(tuple(tab))
        m = _ZERO_MAPS[n] = tuple(m)
    return m


def crc32c_concat(prefix, suffix_raw, suffix_len):
    """crc32c(prefix + suffix), given raw = crc_raw(0, suffix) and len(suffix)."""
    a = crc_raw(0xFFFFFFFF, prefix)
    z0, z1, z2, z3 = _zero_map(suffix_len)
    return (z0[a & 0xFF] ^ z1[(a >> 8) & 0xFF] ^ z2[(a >> 16) & 0xFF] ^ z3[a >> 24] ^ suffix_raw) ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value (CRC32C.checkValue)
assert crc32c_concat(b"0123456789abc", crc_raw(0, b"defghijklmnopqrstuvwxyz!"), 24) == \
    crc32c(b"0123456789abcdefghijklmnopqrstuvwxyz!")

# ----------------------------------------------------------------------------- encoding

MAGIC, FRAME_VERSION, KIND_REQUEST, KIND_RESPONSE = 0x5155, 1, 3, 4
HEADER = struct.Struct("<HBBII")
GROUP = 1
FRAME_MAX = 16 << 20


def _bytes(b):
    return struct.pack("<I", len(b)) + b


def put_command(key, value):
    # tag 1 | key | value | lease u64 (0 none) | flags u8
    return b"\x01" + _bytes(key) + _bytes(value) + b"\x00" * 9


def range_command_encoded(key):
    # StoreCommand.encoded: format version 1 | tag 2 | key | has range end 0 | limit u64 | revision u64 | flags u8
    return b"\x01\x02" + _bytes(key) + b"\x00" + b"\x00" * 17


def delete_command(key):
    # tag 3 | key | has range end 0 | prevKV 0
    return b"\x03" + _bytes(key) + b"\x00\x00"


def create_if_absent_txn(key, value):
    # tag 4 | compares u32 1 | [key | target 2 (version) | u64 0 | operator 0 (equal)]
    #       | success u32 1 | [put] | failure u32 0
    return (b"\x04" + struct.pack("<I", 1) + _bytes(key) + b"\x02" + struct.pack("<Q", 0) + b"\x00"
            + struct.pack("<I", 1) + put_command(key, value) + struct.pack("<I", 0))


def frame_parts(head, tail, tail_raw):
    """The frame of payload head + tail, with crc_raw(0, tail) known."""
    crc = crc32c_concat(head, tail_raw, len(tail))
    return HEADER.pack(MAGIC, FRAME_VERSION, KIND_REQUEST, len(head) + len(tail), crc) + head + tail


class Reader:
    __slots__ = ("b", "i")

    def __init__(self, b, i=0):
        self.b, self.i = b, i

    def u8(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def u32(self):
        v = struct.unpack_from("<I", self.b, self.i)[0]
        self.i += 4
        return v

    def u64(self):
        v = struct.unpack_from("<Q", self.b, self.i)[0]
        self.i += 8
        return v

    def raw(self, n):
        if self.i + n > len(self.b):
            raise ValueError("truncated")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def bytes(self):
        return self.raw(self.u32())


RESULT_TAGS = {1: "put", 2: "range", 3: "deleteRange", 4: "transaction", 5: "compacted", 6: "leaseGranted",
               7: "leaseKeptAlive", 8: "leaseRevoked", 9: "sessionClosed", 10: "failed"}


def decode_result(b):
    """StoreResult bytes -> (tag name, Reader positioned at the body)."""
    r = Reader(b)
    if r.u8() != 1:
        raise ValueError("unsupported result format version")
    tag = r.u8()
    return RESULT_TAGS.get(tag, "tag%d" % tag), r


def decode_key_value(r):
    key, value = r.bytes(), r.bytes()
    create_rev, mod_rev, version, lease = r.u64(), r.u64(), r.u64(), r.u64()
    return key, value, create_rev, mod_rev, version, lease


class QuorumError(Exception):
    pass


class Retry(Exception):
    """Transient: the request may be sent again (writes keep their session sequence)."""


# ----------------------------------------------------------------------------- adapter


class QuorumAdapter(Adapter):  # noqa: F821  (Adapter is a global provided by loadgen.py)
    name = "quorum"

    def __init__(self, endpoint, opts):
        super().__init__(endpoint, opts)
        self.timeout = float(opts.get("timeout", 10))
        self.lock_poll = float(opts.get("lock_poll", 0.001))
        self.linearizable = opts.get("serializable", "0") != "1"
        cluster = [e for e in opts.get("cluster", "").split(",") if e]
        self.candidates = [endpoint] + [e for e in cluster if e != endpoint]
        self.attempt = 0
        self.client_id = random.SystemRandom().randrange(1, 1 << 64)
        self.sequence = 0
        self.request_id = 0
        self.sock = None
        self.crc_cache = {}
        self.target = endpoint
        self.redirects = 0
        self._connect(endpoint)

    # --- connection

    def _connect(self, endpoint):
        self._close_socket()
        host, _, port = endpoint.rpartition(":")
        s = socket.create_connection((host, int(port)), timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(self.timeout)
        self.sock, self.target = s, endpoint

    def _close_socket(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by " + self.target)
            buf += chunk
        return bytes(buf)

    def _roundtrip(self, kind, body, tail):
        """Send one request (payload = header + body + tail; tail repeats, its CRC state is cached), return
        (response kind, Reader at the body). One request in flight per connection."""
        self.request_id += 1
        rid = self.request_id
        tail_raw = self.crc_cache.get(tail)
        if tail_raw is None:
            if len(self.crc_cache) > 4096:
                self.crc_cache.clear()
            tail_raw = self.crc_cache[tail] = crc_raw(0, tail)
        if self.sock is None:
            self._connect(self.target)
        self.sock.sendall(frame_parts(struct.pack("<BQQB", 1, rid, GROUP, kind) + body, tail, tail_raw))
        while True:
            magic, version, fkind, length, crc = HEADER.unpack(self._recv_exact(HEADER.size))
            if magic != MAGIC or version != FRAME_VERSION or fkind != KIND_RESPONSE or length > FRAME_MAX:
                raise ConnectionError("bad frame header from %s" % self.target)
            data = self._recv_exact(length)
            if crc32c(data) != crc:
                raise ConnectionError("frame checksum mismatch from %s" % self.target)
            r = Reader(data)
            if r.u8() != 1:
                raise ConnectionError("unsupported response version")
            got = r.u64()
            rkind = r.u8()
            if got == rid:
                return rkind, r
            if got == 0 and rkind == 3:
                raise QuorumError("refused: " + r.bytes().decode("utf-8", "replace"))
            # a late answer to an earlier (timed-out) request on this connection: skip it

    def _execute(self, kind, body, tail):
        """Runs one request until a result: follows notLeader redirects, retries unavailable / lost connections."""
        deadline = time.monotonic() + self.timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            try:
                rkind, r = self._roundtrip(kind, body, tail)
            except (OSError, ConnectionError) as e:
                last = "%s: %r" % (self.target, e)
                self._close_socket()
                self.attempt += 1
                self.target = self.candidates[self.attempt % len(self.candidates)]
                time.sleep(0.05)
                continue
            if rkind == 1:
                return decode_result(r.bytes())
            if rkind == 2:
                r.u64()  # leader id (0 unknown)
                leader = r.bytes().decode()
                self.redirects += 1
                if leader:
                    if leader not in self.candidates:
                        self.candidates.append(leader)
                    try:
                        self._connect(leader)
                    except OSError as e:
                        last = "%s: %r" % (leader, e)
                        self._close_socket()
                        time.sleep(0.05)
                else:
                    last = "%s knows no leader" % self.target
                    time.sleep(0.1)
                    self.attempt += 1
                    self._close_socket()
                    self.target = self.candidates[self.attempt % len(self.candidates)]
                continue
            if rkind == 5:
                last = "unavailable: " + r.bytes().decode("utf-8", "replace")
                time.sleep(0.05)
                continue
            if rkind == 3:
                raise QuorumError("failed: " + r.bytes().decode("utf-8", "replace"))
            raise QuorumError("unexpected response kind %d" % rkind)
        raise TimeoutError("quorum request timed out: " + last)

    def _write(self, command):
        self.sequence += 1
        # u32 proposal length | proposal = format version 1 | has session 1 | client u64 | sequence u64 | command
        head = struct.pack("<IBBQQ", 18 + len(command), 1, 1, self.client_id, self.sequence)
        tag, r = self._execute(1, head, command)
        if tag == "failed":
            raise QuorumError("store refused the write (error tag %d)" % r.u8())
        return tag, r

    # --- the loadgen interface

    def put(self, key, value):
        tag, r = self._write(put_command(key, value))
        if tag != "put":
            raise QuorumError("unexpected result " + tag)
        return r.u64()  # revision

    def get(self, key):
        command = range_command_encoded(key)
        head = (b"\x01" if self.linearizable else b"\x00") + struct.pack("<I", len(command))
        tag, r = self._execute(2, head, command)
        if tag != "range":
            raise QuorumError("unexpected result " + tag)
        r.u64()  # revision
        n = r.u32()
        if n == 0:
            return None
        return decode_key_value(r)[1]

    def lock_cycle(self, name):
        key = b"lock/" + name.encode()
        owner = b"%d" % self.client_id
        deadline = time.monotonic() + 30
        while True:
            tag, r = self._write(create_if_absent_txn(key, owner))
            if tag != "transaction":
                raise QuorumError("unexpected result " + tag)
            r.u64()  # revision: with success, the lock's fencing token
            if r.u8() == 1:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("lock acquire timeout")
            time.sleep(self.lock_poll)
        tag, _ = self._write(delete_command(key))
        if tag != "deleteRange":
            raise QuorumError("unexpected result " + tag)

    def close(self):
        self._close_socket()


register(QuorumAdapter)  # noqa: F821  (provided by loadgen.py)
