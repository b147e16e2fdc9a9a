"""A DEFLATE/XML polyglot: bytes that are a well-formed AuthnRequest to an XML parser and, inflated
as raw DEFLATE (RFC 1951), another AuthnRequest.

The bytes start `<` + HEADER: `<` is a (non-final) dynamic-Huffman block header, and HEADER's name
characters (the outer root element's namespace prefix) carry that block's code tables and the
four symbols `<!--` and end-of-block, then a final stored block's header (BFINAL=1, BTYPE=00). Its
LEN/NLEN are STORED_LENGTH, the UTF-8 letters that end the prefix. The stored block's 40,646 bytes
are copied out unchanged: the rest of the outer start tag, Issuer and the opening of a CDATA
section (all inside the inflated document's comment), then `-->` and the inner request. zlib then
stops and ignores the trailing bytes that close the outer document.

HEADER came from `search` below, a depth-first search over the dynamic block's free choices
(HDIST, HCLEN, the code-length code, run lengths, filler symbols); any header it returns works
the same way, and the test checks with zlib that this one is what it says.
"""
from __future__ import annotations

HEADER = b"<csoFqcvlZWpEIpEJpE_EJB_QrE_6Pb_WDSZ."
STORED_LENGTH = b"\xc6\x9e9a"  # LEN 0x9EC6 = 40646, NLEN its complement: "ƞ9a" in UTF-8
LENGTH = 0x9EC6
PREFIX = (HEADER[1:] + STORED_LENGTH).decode()  # the outer root's namespace prefix


def polyglot(outer: str, inner: str) -> bytes:
    """`outer` is a whole AuthnRequest whose root is `<PREFIX:AuthnRequest`; `inner` is the
    document a DEFLATE reader sees instead."""
    closing = f"</{PREFIX}:AuthnRequest>"
    data = outer.encode()
    if not (data.startswith(HEADER + STORED_LENGTH) and outer.endswith(closing)):
        raise ValueError("the outer document must use PREFIX for its root")
    start = data[len(HEADER + STORED_LENGTH):-len(closing.encode())] + b"<![CDATA[-->" + inner.encode()
    if len(start) > LENGTH:
        raise ValueError("the outer start and the inner document do not fit the stored block")
    stored = start + b" " * (LENGTH - len(start))  # whitespace after the inner root: still well-formed
    return HEADER + STORED_LENGTH + stored + b"]]>" + closing.encode()


# --- how HEADER was found (not run by the tests: about 20 s) ----------------------------------------
# python -c "from tests.saml.polyglot import search; print(search(0))"

_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]  # RFC 1951 §3.2.7
_START = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME = _START | set(b"0123456789.-")


def _canonical(lengths: dict) -> dict:
    """symbol -> (code, length), RFC 1951 §3.2.2."""
    count = [0] * 16
    for length in lengths.values():
        count[length] += 1
    code, first = 0, [0] * 16
    for bits in range(1, 16):
        code = (code + count[bits - 1]) << 1
        first[bits] = code
    codes = {}
    for symbol in sorted(lengths):
        codes[symbol] = (first[lengths[symbol]], lengths[symbol])
        first[lengths[symbol]] += 1
    return codes


def _huffman(code_and_length) -> list:
    code, length = code_and_length
    return [(code >> (length - 1 - i)) & 1 for i in range(length)]


def _number(value: int, bits: int) -> list:
    return [(value >> i) & 1 for i in range(bits)]


def search(seed: int = 0, emit: bytes = b"<!--"):
    """A dynamic block after `<` (0x3C: not final, dynamic, HLIT 264) whose bytes are name
    characters, emitting `emit`, then a final stored block's header, padded to a byte."""
    import random
    rng = random.Random(seed)
    bits = _number(0x3C, 8)

    def push(new) -> bool:
        start = len(bits)
        bits.extend(new)
        for i in range(max(1, start // 8), len(bits) // 8):
            if sum(bits[8 * i + j] << j for j in range(8)) not in (_START if i == 1 else _NAME):
                del bits[start:]
                return False
        return True

    def data(literals):
        codes = _canonical(literals)
        new = [b for ch in emit for b in _huffman(codes[ch])] + _huffman(codes[256]) + [1, 0, 0]
        if not push(new):
            return None
        pad = (-len(bits)) % 8
        for value in range(2 ** pad):
            if push(_number(value, pad)):
                return bytes(sum(bits[8 * i + j] << j for j in range(8)) for i in range(len(bits) // 8))
        del bits[-len(new):]
        return None

    def lengths(target, i, codes, literals, budget):
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if i == len(target):
            return data(literals)
        if target[i]:
            steps = [(_huffman(codes[target[i]]), 1)] if target[i] in codes else []
        else:
            run = next((k for k in range(i, len(target)) if target[k]), len(target)) - i
            steps = [(_huffman(codes[0]), 1)] if 0 in codes else []
            if 17 in codes:
                steps += [(_huffman(codes[17]) + _number(k - 3, 3), k) for k in range(3, min(10, run) + 1)]
            if 18 in codes:
                steps += [(_huffman(codes[18]) + _number(k - 11, 7), k) for k in range(11, min(138, run) + 1)]
        rng.shuffle(steps)
        for new, k in steps:
            if push(new):
                found = lengths(target, i + k, codes, literals, budget)
                if found:
                    return found
                del bits[-len(new):]
        return None

    def code_lengths(hdist, count, i, chosen, kraft):
        if i == count:
            usable = [n for n in (3, 4, 5) if n in chosen]
            if kraft != 1 or not usable or not {0, 17, 18} & set(chosen):
                return None
            n = rng.choice(usable)  # every literal/length code n bits long: 2**n symbols
            needed = set(emit) | {256}
            literals = {s: n for s in needed | set(rng.sample([s for s in range(264) if s not in needed],
                                                              2 ** n - len(needed)))}
            target = [literals.get(s, 0) for s in range(264)] + [0] * (hdist + 1)
            return lengths(target, 0, _canonical(chosen), literals, [20000])
        for value in rng.sample(range(8), 8):
            weight = kraft + (2 ** -value if value else 0)
            if weight <= 1 and push(_number(value, 3)):
                found = code_lengths(hdist, count, i + 1, {**chosen, **({_ORDER[i]: value} if value else {})},
                                     weight)
                if found:
                    return found
                del bits[-3:]
        return None

    for _ in range(200):
        for hdist in rng.sample(range(32), 32):
            if not push(_number(hdist, 5)):
                continue
            for hclen in rng.sample([8, 9, 10, 11], 4):  # HCLEN's high bit would make byte 1 non-ASCII
                if push(_number(hclen, 4)):
                    found = code_lengths(hdist, hclen + 4, 0, {}, 0)
                    if found:
                        return found
                    del bits[-4:]
            del bits[-5:]
    return None
