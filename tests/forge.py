#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""forge.py: bundles swu refuses to write, for the negative tests. A second, independent
writer of the wire format (Python's standard library and the openssl command only), so the
tests do not trust libswu to build what libswu must reject.

  forge.py order IN OUT --pigweed         top-level fields in field-number order, as Pigweed's
                                          tools write them: targets, payloads, then the root
  forge.py order IN OUT --payloads-first  payload entries before everything else
  forge.py edit IN OUT [edits...] [--sign KEY]...
      --rename OLD=NEW        a target's file_name in the signed targets metadata
      --rename-payload OLD=NEW  the name of a payload entry
      --role ROLE             the role of the targets metadata
      --spec-version S        its spec_version
      --compatible C          replaces its compatible list with C
      --targets-key NAME      renames the entry "targets" of targets_metadata
      --extra-targets NAME    adds a second targets_metadata entry called NAME
      --flood N:PUB           puts N bogus signatures claiming the key id of PUB first
      --bogus-signature ID    adds a signature of random bytes claiming key id ID (any length)
      --sign KEY              signs the edited targets metadata (repeatable); when the signed
                              bytes change and no --sign is given, they stay unsigned
Values take Python escapes (\\x00, \\n, \\xff) and are written as those bytes.
"""
import hashlib
import os
import subprocess
import sys


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def enc_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def parse(buf):
    """[(field, wire, value)] of a message: value is bytes for LEN, int for VARINT."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 2:
            n, pos = varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((field, wire, value))
    return out


def build(fields):
    out = bytearray()
    for field, wire, value in fields:
        out += enc_varint(field << 3 | wire)
        if wire == 0:
            out += enc_varint(value)
        elif wire == 2:
            out += enc_varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def raw(text):
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1")


def get(fields, num):
    return [v for f, w, v in fields if f == num]


def replace(fields, num, new_values):
    """Drops every field @num and appends @new_values as LEN fields @num, keeping the order
    of the others."""
    return [x for x in fields if x[0] != num] + [(num, 2, v) for v in new_values]


def key_id(pub):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(b"\x03\x03" + der[-65:]).digest()


def der_int(der, pos):
    assert der[pos] == 2
    n = der[pos + 1]
    return int.from_bytes(der[pos + 2 : pos + 2 + n], "big"), pos + 2 + n


def sign(key, data):
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                         check=True, capture_output=True).stdout
    pos = 2 if der[1] < 0x80 else 3
    r, pos = der_int(der, pos)
    s, pos = der_int(der, pos)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def edit_targets(tm, opts):
    fields = parse(tm)
    for old, new in opts["rename"]:
        files = []
        for f in get(fields, 2):
            tf = parse(f)
            if get(tf, 1) == [old]:
                tf = [(1, 2, new) if x[0] == 1 else x for x in tf]
            files.append(build(tf))
        fields = replace(fields, 2, files)
    common = parse(get(fields, 1)[0])
    if opts["role"] is not None:
        common = replace(common, 4, [opts["role"]])
    if opts["spec"] is not None:
        common = replace(common, 1, [opts["spec"]])
    fields = [(1, 2, build(common)) if x[0] == 1 else x for x in fields]
    if opts["compatible"] is not None:
        fields = replace(fields, 65, [opts["compatible"]])
    return build(fields)


def edit(args):
    src, dst, rest = args[0], args[1], args[2:]
    opts = {"rename": [], "rename_payload": [], "role": None, "spec": None, "compatible": None,
            "sign": [], "flood": None, "targets_key": None, "extra": [], "bogus": []}
    i = 0
    while i < len(rest):
        name, value = rest[i], rest[i + 1]
        i += 2
        if name == "--rename":
            old, new = value.split("=", 1)
            opts["rename"].append((raw(old), raw(new)))
        elif name == "--rename-payload":
            old, new = value.split("=", 1)
            opts["rename_payload"].append((raw(old), raw(new)))
        elif name == "--role":
            opts["role"] = raw(value)
        elif name == "--spec-version":
            opts["spec"] = raw(value)
        elif name == "--compatible":
            opts["compatible"] = raw(value)
        elif name == "--sign":
            opts["sign"].append(value)
        elif name == "--flood":
            count, pub = value.split(":", 1)
            opts["flood"] = (int(count), pub)
        elif name == "--bogus-signature":
            opts["bogus"].append(raw(value))
        elif name == "--targets-key":
            opts["targets_key"] = raw(value)
        elif name == "--extra-targets":
            opts["extra"].append(raw(value))
        else:
            sys.exit("forge.py: unknown option " + name)
    out = []
    for field, wire, value in parse(open(src, "rb").read()):
        if field == 3:
            entry = parse(value)
            key, signed = get(entry, 1)[0], parse(get(entry, 2)[0])
            if key == b"targets":
                tm = get(signed, 1)[0]
                sigs = get(signed, 2)
                new_tm = edit_targets(tm, opts)
                if new_tm != tm:
                    sigs = []
                for k in opts["sign"]:
                    sigs.append(build([(1, 2, key_id(k + ".pub")), (2, 2, sign(k, new_tm))]))
                if opts["flood"]:
                    # before the real signatures: a verifier trying each one pays for all
                    kid = key_id(opts["flood"][1])
                    sigs = [build([(1, 2, kid), (2, 2, os.urandom(64))])
                            for _ in range(opts["flood"][0])] + sigs
                sigs += [build([(1, 2, kid), (2, 2, os.urandom(64))]) for kid in opts["bogus"]]
                signed = [(1, 2, new_tm)] + [(2, 2, s) for s in sigs]
                if opts["targets_key"] is not None:
                    key = opts["targets_key"]
                value = build([(1, 2, key), (2, 2, build(signed))])
                out.append((3, 2, value))
                for extra in opts["extra"]:
                    out.append((3, 2, build([(1, 2, extra), (2, 2, build(signed))])))
                continue
        if field == 4:
            entry = parse(value)
            for old, new in opts["rename_payload"]:
                if get(entry, 1) == [old]:
                    entry = [(1, 2, new) if x[0] == 1 else x for x in entry]
            value = build(entry)
        out.append((field, wire, value))
    open(dst, "wb").write(build(out))


def order(args):
    src, dst, how = args
    fields = parse(open(src, "rb").read())
    if how == "--pigweed":
        fields.sort(key=lambda x: x[0])
    elif how == "--payloads-first":
        fields = [x for x in fields if x[0] == 4] + [x for x in fields if x[0] != 4]
    else:
        sys.exit("forge.py: order needs --pigweed or --payloads-first")
    open(dst, "wb").write(build(fields))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] not in ("order", "edit"):
        sys.exit(__doc__)
    (order if sys.argv[1] == "order" else edit)(sys.argv[2:])
