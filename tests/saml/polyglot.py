"""A DEFLATE/XML polyglot: bytes that are a well-formed AuthnRequest to an XML parser and, inflated
as raw DEFLATE (RFC 1951), another AuthnRequest.

The bytes start `<` + HEADER: `<` is a (non-final) dynamic-Huffman block header, and HEADER's name
characters (the outer root element's namespace prefix) carry that block's code tables and the
four symbols `<!--` and end-of-block, then a final stored block's header (BFINAL=1, BTYPE=00). Its
LEN/NLEN are STORED_LENGTH, the UTF-8 letters that end the prefix. The stored block's 40,646 bytes
are copied out unchanged: the rest of the outer start tag, Issuer and the opening of a CDATA
section (all inside the inflated document's comment), then `-->` and the inner request. zlib then
stops and ignores the trailing bytes that close the outer document.

HEADER was found by a depth-first search over the dynamic block's free choices (HDIST, HCLEN, the
code-length code, run lengths, filler symbols); the test checks with zlib that it is what it says.
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
