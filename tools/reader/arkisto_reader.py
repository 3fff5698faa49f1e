#!/usr/bin/env python3
"""A reference reader for arkisto archives, written from FORMAT.md alone.

It shares no code with arkisto: the standard library plus the `zstandard` package. If it
and arkisto disagree about an archive, one of them (or FORMAT.md) is wrong.

    arkisto_reader.py list STORE                   records in the store (JSON)
    arkisto_reader.py extract STORE RECORD [-o F]  a record's original bytes, both digests checked
    arkisto_reader.py verify STORE                 every digest, pack commitments, the ledger chain
    arkisto_reader.py checkpoint STORE --key KEY   the newest checkpoint's signature and root

STORE is a store directory (the embedded default's `arkisto-data/store`, or a copy of the
bucket). Exit codes: 0 fine, 1 cannot read, 2 usage, 3 problems found.
"""

import argparse
import base64
import hashlib
import json
import os
import struct
import sys

import zstandard

MAGIC_META = 0x184D2A5A
MAGIC_TABLE = 0x184D2A5B
MAGIC_FOOTER = 0x184D2A5F
FOOTER_LEN = 64
MAX_JSON = 512 << 20


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# --- Store (FORMAT.md section 1) ------------------------------------------------------------


class Store:
    def __init__(self, root):
        if not os.path.isdir(root):
            raise OSError(f"{root} is not a directory")
        self.root = root

    def list(self, prefix):
        out = []
        base = os.path.join(self.root, prefix)
        for dirpath, _, names in os.walk(base):
            for n in names:
                key = os.path.relpath(os.path.join(dirpath, n), self.root).replace(os.sep, "/")
                if not key.startswith(".tmp/"):
                    out.append(key)
        return sorted(out)

    def size(self, key):
        return os.path.getsize(os.path.join(self.root, key))

    def read(self, key, offset=0, length=None):
        with open(os.path.join(self.root, key), "rb") as f:
            f.seek(offset)
            data = f.read() if length is None else f.read(length)
        if length is not None and len(data) != length:
            raise ValueError(f"{key}: short read")
        return data


# --- Packs (section 2) ----------------------------------------------------------------------


def skippable_payload(magic, frame):
    if len(frame) < 8:
        raise ValueError("frame too short")
    m, n = struct.unpack("<II", frame[:8])
    if m != magic or n != len(frame) - 8:
        raise ValueError("not the expected skippable frame")
    return frame[8:]


def json_frame(magic, frame):
    payload = skippable_payload(magic, frame)
    return json.loads(zstandard.ZstdDecompressor().decompress(payload, max_output_size=MAX_JSON))


def read_table(store, key):
    size = store.size(key)
    if size < FOOTER_LEN:
        raise ValueError("too small to be a pack")
    p = skippable_payload(MAGIC_FOOTER, store.read(key, size - FOOTER_LEN, FOOTER_LEN))
    if len(p) != 56 or p[:8] != b"ARKPACK1":
        raise ValueError("footer damaged")
    off, length = struct.unpack("<QQ", p[8:24])
    if off + length + FOOTER_LEN != size:
        raise ValueError("footer sizes do not add up (truncated?)")
    frame = store.read(key, off, length)
    if hashlib.sha256(frame).digest() != p[24:56]:
        raise ValueError("table does not match the footer's digest")
    t = json_frame(MAGIC_TABLE, frame)
    if t.get("format") != "arkisto-pack" or t.get("version") != 1:
        raise ValueError("unknown pack format")
    return t


class Dicts:
    def __init__(self, store):
        self.store, self.cache = store, {}

    def get(self, dict_id):
        if dict_id not in self.cache:
            self.cache[dict_id] = zstandard.ZstdCompressionDict(self.store.read(f"dicts/{dict_id}"))
        return self.cache[dict_id]


def read_record(store, dicts, key, loc):
    """Original bytes of one record, both digests checked (section 2.5)."""
    frame = store.read(key, loc["data_offset"], loc["data_len"])
    if sha256(frame) != loc["stored_sha256"]:
        raise ValueError("data frame does not match stored_sha256")
    dict_id = loc.get("dict_id", 0)
    d = zstandard.ZstdDecompressor(dict_data=dicts.get(dict_id)) if dict_id else zstandard.ZstdDecompressor()
    data = d.decompress(frame, max_output_size=loc["original_size"] + 1)
    if len(data) != loc["original_size"] or sha256(data) != loc["record_id"]:
        raise ValueError("decompressed bytes do not match record_id")
    return data


def read_meta(store, key, loc):
    frame = store.read(key, loc["meta_offset"], loc["meta_len"])
    if sha256(frame) != loc["meta_sha256"]:
        raise ValueError("metadata frame does not match meta_sha256")
    meta = json_frame(MAGIC_META, frame)
    if meta.get("record_id") != loc["record_id"]:
        raise ValueError("metadata names another record")
    return meta


# --- Ledger (section 5) ---------------------------------------------------------------------


def read_ledger(store):
    """Events by seq, each with its stored line; and the problems found."""
    events, problems = {}, []
    for key in store.list("ledger/"):
        name = key.rsplit("/", 1)[-1]
        try:
            first, last = (int(x) for x in name[: -len(".jsonl.zst")].split("-"))
            text = zstandard.ZstdDecompressor().stream_reader(store.read(key)).read().decode("utf-8")
        except Exception as e:  # noqa: BLE001 - any damage is a problem to report
            problems.append(f"{key}: does not decode ({e})")
            continue
        lines = [l for l in text.split("\n") if l]
        seqs = []
        for line in lines:
            try:
                e = json.loads(line)
            except ValueError as err:
                problems.append(f"{key}: a line is not JSON ({err})")
                continue
            seqs.append(e.get("seq"))
            there = events.get(e.get("seq"))
            if there is not None and there[1] != line:
                problems.append(f"{key}: holds another event {e.get('seq')} than an earlier segment")
            elif there is None:
                events[e.get("seq")] = (e, line)
        if seqs != list(range(first, last + 1)):
            problems.append(f"{key}: does not hold events {first} to {last} in order")
    return [events[k] for k in sorted(events)], problems


def event_hash(e, line):
    if e.get("v") == 2:
        return sha256(line.encode("utf-8"))
    # Encoding 1: the fields in this order, no whitespace, detail keys sorted.
    fields = ["seq", "time", "event_type", "actor", "purpose", "object", "outcome", "detail", "prev_hash"]
    obj = {k: e.get(k) for k in fields}
    obj["detail"] = json.loads(json.dumps(e.get("detail"), sort_keys=True))
    return sha256(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_chain(events):
    prev = "0" * 64
    for i, (e, line) in enumerate(events, start=1):
        if e.get("seq") != i:
            return f"event {i}: expected seq {i}, found {e.get('seq')} (events missing)"
        if e.get("prev_hash") != prev:
            return f"event {i}: previous-hash link broken"
        h = event_hash(e, line)
        if e.get("v") != 2 and e.get("hash") != h:
            return f"event {i}: content does not match its hash"
        prev = h
    return None


# --- Merkle tree and checkpoints (section 6) ------------------------------------------------


def leaf_hash(line):
    return hashlib.sha256(b"\x00" + line.encode("utf-8")).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def prefix_roots(leaves, sizes):
    """{n: root of the tree of the first n leaves} for each n in sizes that leaves cover, in one
    pass: the right edge (one subtree root per set bit of n), folded from the right."""
    out, edge, n = {}, [], 0
    for want in sorted(set(x for x in sizes if x <= len(leaves))):
        while n < want:
            h, m = leaves[n], n
            while m & 1:
                h = node_hash(edge.pop(), h)
                m >>= 1
            edge.append(h)
            n += 1
        root = hashlib.sha256(b"").digest() if not edge else edge[-1]
        for left in reversed(edge[:-1]):
            root = node_hash(left, root)
        out[want] = root
    return out


# Ed25519 verification, RFC 8032 section 5.1.7 (after its reference code in section 6).
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % _P, (a[1] + a[0]) * (b[1] + b[0]) % _P
    C, D = 2 * a[3] * b[3] * _D % _P, 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % _P, G * H % _P, F * G % _P, E * H % _P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_G = (lambda y: (_recover_x(y, 0), y, 1, _recover_x(y, 0) * y % _P))(4 * pow(5, _P - 2, _P) % _P)


def ed25519_verify(public, msg, sig):
    if len(public) != 32 or len(sig) != 64:
        return False
    A, R = _decompress(public), _decompress(sig[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _L
    return _equal(_mul(s, _G), _add(R, _mul(h, A)))


def parse_vkey(text):
    name, keyid, b64 = text.strip().split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    if raw[:1] != b"\x01" or len(raw) != 33:
        raise ValueError("not an Ed25519 verifier key")
    want = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    if keyid != want:
        raise ValueError("key id does not match the key")
    return name, bytes.fromhex(keyid), raw[1:]


def note_verify(note, vkey):
    """The note's text if `vkey` signed it, else None."""
    name, keyid, public = vkey
    if "\n\n" not in note:
        return None
    i = note.rindex("\n\n")
    text, sigs = note[: i + 1], note[i + 2 :]
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            return None
        signer, b64 = line[2:].split(" ", 1)
        raw = base64.b64decode(b64)
        if signer == name and raw[:4] == keyid and ed25519_verify(public, text.encode("utf-8"), raw[4:]):
            return text
    return None


def key_chain(events, trusted):
    """(from_size, vkey) periods, following rotations signed by the key in force."""
    trusted_text = trusted.strip()
    announced = any(e.get("event_type") == "checkpoint key announced" and e.get("object") == trusted_text for e, _ in events)
    chain = [] if announced else [(0, trusted_text)]
    for e, _ in events:
        if e.get("event_type") != "checkpoint key announced":
            continue
        new = e.get("detail", {}).get("verifier_key", "")
        if not chain:
            if new == trusted_text:
                chain.append((e["seq"], new))
            continue
        current = chain[-1][1]
        if new == current:
            continue
        text = note_verify(e.get("detail", {}).get("announcement") or "", parse_vkey(current))
        if text == f"arkisto checkpoint key rotation\n{current}\n{new}\n":
            chain.append((e["seq"], new))
    return chain


# --- Commands -------------------------------------------------------------------------------


def cmd_list(store, _args):
    out = []
    for key in store.list("packs/"):
        for loc in read_table(store, key)["records"]:
            meta = read_meta(store, key, loc)
            out.append(
                {
                    "record_id": loc["record_id"],
                    "pack": key,
                    "source": meta.get("source"),
                    "document_id": meta.get("document_id"),
                    "media_type": meta.get("media_type"),
                    "original_size": loc["original_size"],
                }
            )
    out.sort(key=lambda r: r["record_id"])
    print(json.dumps(out))
    return 0


def cmd_extract(store, args):
    dicts = Dicts(store)
    for key in store.list("packs/"):
        for loc in read_table(store, key)["records"]:
            if loc["record_id"] == args.record:
                data = read_record(store, dicts, key, loc)
                if args.output:
                    with open(args.output, "wb") as f:
                        f.write(data)
                else:
                    sys.stdout.buffer.write(data)
                return 0
    print(f"record {args.record} is in no pack", file=sys.stderr)
    return 3


def cmd_verify(store, _args):
    problems, dicts = [], Dicts(store)
    events, p = read_ledger(store)
    problems += p
    chain = check_chain(events)
    if chain:
        problems.append(f"ledger: {chain}")
    committed = {}
    for e, _ in events:
        d = e.get("detail") or {}
        if e.get("event_type") in ("ingestion", "pack compaction") or (e.get("event_type") == "repair" and e.get("outcome") == "adopted"):
            if d.get("key"):
                committed[d["key"]] = d.get("pack_sha256")
    packs = records = 0
    for key in store.list("packs/"):
        packs += 1
        try:
            table = read_table(store, key)
        except (ValueError, zstandard.ZstdError) as e:
            problems.append(f"{key}: {e}")
            continue
        if key not in committed:
            problems.append(f"{key}: no ledger event commits to this pack")
        elif committed[key] and sha256(store.read(key)) != committed[key]:
            problems.append(f"{key}: does not match the digest its ledger event committed to")
        for loc in table["records"]:
            try:
                read_meta(store, key, loc)
                read_record(store, dicts, key, loc)
                records += 1
            except (ValueError, OSError, zstandard.ZstdError) as e:
                problems.append(f"{key}: record {loc['record_id']}: {e}")
    print(json.dumps({"packs": packs, "records": records, "events": len(events), "problems": problems}))
    return 3 if problems else 0


def cmd_checkpoint(store, args):
    events, problems = read_ledger(store)
    vkey_text = open(args.key).read() if os.path.isfile(args.key) else args.key
    chain = key_chain(events, vkey_text)
    notes = [(k, store.read(k).decode("utf-8")) for k in store.list("checkpoints/") if k.endswith(".note")]
    leaves = [leaf_hash(line) for _, line in events]
    roots = prefix_roots(leaves, [int(note.split("\n")[1]) for _, note in notes])
    newest = None
    for key, note in notes:
        lines = note.split("\n")
        size = int(lines[1])
        in_force = [k for (from_size, k) in chain if from_size <= size]
        if not in_force:
            continue
        text = note_verify(note, parse_vkey(in_force[-1]))
        if text is None:
            problems.append(f"{key}: signature does not verify")
            continue
        if roots.get(size) != base64.b64decode(lines[2]):
            problems.append(f"{key}: the ledger does not hash to its root")
            continue
        newest = {"size": size, "root": lines[2], "origin": lines[0], "key": in_force[-1]}
    if newest is None:
        problems.append("no checkpoint verifies under the trusted key")
    print(json.dumps({"checkpoint": newest, "events": len(events), "problems": problems}))
    return 3 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("list", "verify"):
        sub.add_parser(name).add_argument("store")
    x = sub.add_parser("extract")
    x.add_argument("store")
    x.add_argument("record")
    x.add_argument("-o", "--output")
    c = sub.add_parser("checkpoint")
    c.add_argument("store")
    c.add_argument("--key", required=True)
    args = ap.parse_args()
    try:
        store = Store(args.store)
        return {"list": cmd_list, "extract": cmd_extract, "verify": cmd_verify, "checkpoint": cmd_checkpoint}[args.cmd](store, args)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
