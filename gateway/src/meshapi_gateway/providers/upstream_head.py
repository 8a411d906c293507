"""An upstream POST's bytes with the head's constant lines made once per deployment and URL.

``upstream_headers`` builds a dict per call and the client formats all of it per call, yet for
one deployment only the length, the request id and the traceparent change between calls. A
``Head`` keeps the rest, already formatted, for the usual case: the entry's and the deployment's
headers add new names only. Whenever they would override a header the adapter sets (which keeps
that header's place in the block) or one the client writes itself, or anything needs the
client's checks to fail, ``bytes_for`` answers None and the caller takes the general path, which
sends the same bytes it always did.
"""

from __future__ import annotations

from typing import Mapping

from meshapi_gateway.http_client import TransportError
from meshapi_gateway.http_client.client import OWN_HEADERS, plain_head
from meshapi_gateway.http_client.connection import Origin
from meshapi_gateway.observability.record import current as current_record
from meshapi_gateway.providers.base import Target

# What a head was made of, in ``head_for``'s order: the target's key, the entry's and the deployment's
# headers, then ``upstream_headers``' key header, key prefix and the adapter's own headers.
MadeOf = tuple[str, Mapping[str, str], Mapping[str, str], str, str, Mapping[str, str]]


class Head:
    """The constant parts of one deployment's request head, and what they were made from."""

    __slots__ = ("lead", "made_of", "middle", "origin", "tail")

    def __init__(self, made_of: MadeOf, middle: str, tail: str, origin: Origin, lead: str) -> None:
        self.made_of = made_of
        self.origin = origin
        self.lead = lead  # the request line, Host, and the Content-Length header's name
        self.middle = middle  # the client's own lines, then the adapter's up to the request id's name
        self.tail = tail  # the key's line, the entry's and the deployment's, the blank line


def _lines(headers: Mapping[str, str]) -> str | None:
    block = "".join([f"{k}: {v}\r\n" for k, v in headers.items()])
    if block.count("\n") != len(headers) or block.count("\r") != len(headers):
        return None
    try:
        block.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return block


def make_head(url: str, target: Target, key_header: str, key_prefix: str, fixed: Mapping[str, str]) -> Head:
    """The head for ``target`` at ``url``; one whose calls must take the general path has ``lead`` empty."""
    # Copies: a catalog's or an adapter's header dicts could change in place, and a head must not
    # outlive what it was made of.
    made_of = (
        target.api_key,
        dict(target.entry_headers),
        dict(target.deployment_headers),
        key_header,
        key_prefix,
        dict(fixed),
    )
    general = Head(made_of, "", "", (False, "", 0), "")
    extra = {**target.entry_headers, **target.deployment_headers}
    adapters = {"content-type", *fixed, "x-request-id", "traceparent", key_header}
    if len(adapters) != len({"content-type", *fixed}) + 3:  # an adapter's own header set twice
        return general
    if not adapters.isdisjoint(extra) or not OWN_HEADERS.isdisjoint(map(str.lower, [*extra, *adapters])):
        return general
    keyed = {key_header: key_prefix + target.api_key} if target.api_key else {}
    before = _lines({"content-type": "application/json", **fixed})
    after = _lines({**keyed, **extra})
    if before is None or after is None:
        return general
    try:
        origin, start, own = plain_head("POST", url)
    except TransportError:
        return general
    middle = own + before + "x-request-id: "
    return Head(made_of, middle, after + "\r\n", origin, start + "content-length: ")


def head_for(url: str, target: Target, key_header: str, key_prefix: str, fixed: Mapping[str, str]) -> Head:
    """The target's head for ``url``, made again when the deployment or the adapter's headers differ."""
    head: Head | None = target.heads.get(url)
    # Looked up by URL already: what else the head was made of, as the target and the catalog have it
    # now, in one comparison (the target holds the catalog's dicts, so a change in place shows here).
    made_of = (target.api_key, target.entry_headers, target.deployment_headers, key_header, key_prefix, fixed)
    if head is None or head.made_of != made_of:
        head = target.heads[url] = make_head(url, target, key_header, key_prefix, fixed)
    return head


def bytes_for(head: Head, request_id: str, body: bytes) -> bytes | None:
    """The request's bytes as the general path writes them, or None when the call must take that path."""
    if not head.lead or not request_id.isascii() or "\n" in request_id or "\r" in request_id:
        return None
    rec = current_record.get()  # ``trace_header()``, spelled out as in ``upstream_headers``
    if rec is None or rec.trace is None:
        text = f"{head.lead}{len(body)}\r\n{head.middle}{request_id}\r\n{head.tail}"
    else:
        # Hex digits and dashes only (``trace_context``), so nothing for the client's checks; and
        # asked once, as each ask records a new upstream span.
        trace = rec.trace.child_header()
        text = f"{head.lead}{len(body)}\r\n{head.middle}{request_id}\r\ntraceparent: {trace}\r\n{head.tail}"
    return text.encode("latin-1") + body
