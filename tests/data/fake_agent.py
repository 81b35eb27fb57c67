#!/usr/bin/python3
"""A hostile or broken client for tapir's tests: speaks the agent protocol (frames of tag,
u32 big-endian length, payload; M = one JSON message, D = dump bytes) behind a real sshd
forced command, and misbehaves as argv[1] says."""
import io, json, os, struct, sys, tarfile, time

MODE = sys.argv[1]
inp, out = sys.stdin.buffer, sys.stdout.buffer


def send(tag, payload):
    out.write(tag + struct.pack(">I", len(payload)) + payload)
    out.flush()


def msg(m):
    send(b"M", json.dumps(m).encode())


SENT = 0


def data(b):
    global SENT
    SENT += len(b)
    for i in range(0, len(b), 256 << 10):
        send(b"D", b[i:i + (256 << 10)])


def recv():
    head = inp.read(5)
    if len(head) < 5:
        sys.exit(0)
    (n,) = struct.unpack(">I", head[1:])
    return json.loads(inp.read(n)) if head[:1] == b"M" else None


def small_tar(end=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        body = b"hostile client\n"
        info = tarfile.TarInfo("./x")
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    b = buf.getvalue()
    return b if end else b[:1024]  # the member alone, no end-of-archive blocks


def dump():
    msg({"type": "started", "time_ns": time.time_ns()})
    if MODE == "warnings":
        for i in range(3000):
            msg({"type": "warning", "path": f"/f{i}", "message": "x" * 200_000})
        data(small_tar())
    elif MODE == "padded":
        # a well-formed tar followed by 512 KiB of zeros (a tar with a large blocking
        # factor): the extractor stops at the end marker long before the stream ends
        data(small_tar() + bytes(512 << 10))
    elif MODE == "random":
        data(os.urandom(4 << 20))
    elif MODE == "cut":
        data(small_tar(end=False))
    elif MODE == "cutwarn":
        # the agent itself says why the stream is short: kept, PARTIAL
        msg({"type": "warning", "path": "/x", "message": "read error: Input/output error"})
        data(small_tar(end=False))
    elif MODE == "zeros":
        z = bytes(256 << 10)
        while True:
            send(b"D", z)
    elif MODE == "runaway":
        member = tarfile.TarInfo("./big")
        member.size = 1 << 20
        header = member.tobuf(format=tarfile.GNU_FORMAT)
        chunk = header + bytes(1 << 20)
        while True:
            data(chunk)
    elif MODE == "liar":
        # a complete tar, but `done` claims more bytes than were sent
        data(small_tar())
        msg({"type": "done", "files": 1, "tar_bytes": SENT + 4096, "warnings": 0})
        return
    else:
        data(small_tar())
    msg({"type": "done", "files": 1, "tar_bytes": SENT, "warnings": 0})


while True:
    m = recv()
    if m is None:
        continue
    t = m.get("type")
    if t == "hello":
        msg({"type": "hello_ok", "protocol": 1, "tool_version": "fake", "time": int(time.time())})
    elif t == "estimate":
        size = 2**64 - 1 if MODE == "huge-estimate" else 1 << 20
        sizes = [[0, size]] + [[lvl, size] for lvl, _ in m.get("since", [])]
        msg({"type": "estimate_result", "sizes": sizes})
    elif t == "check":
        msg({"type": "check_result", "results": [[p, None] for p in m["paths"]]})
    elif t == "dump":
        try:
            dump()
        except BrokenPipeError:
            sys.exit(0)
    elif t == "bye":
        sys.exit(0)
