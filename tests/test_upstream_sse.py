"""The passthrough's SSE reader (chat_http._sse_data): however the upstream's bytes are cut into
reads, and whichever line ending it uses, the same events come out, whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.executor.chat_http import _sse_data

STREAM = b': keep-alive comment\n\ndata: {"a": 1}\n\nevent: ignored\nid: 7\ndata: {"b":\ndata: 2}\n\ndata:[DONE]\n\n'
EVENTS = [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]


class Reads:
    """A response body that arrives in the given pieces (aiohttp's ``iter_any``)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def iter_any(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


async def events(pieces: list[bytes]) -> list[bytes]:
    return [data async for data in _sse_data(Reads(pieces))]  # type: ignore[arg-type]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
async def test_every_cut_into_two_reads_gives_the_same_events(ending: bytes) -> None:
    stream = STREAM.replace(b"\n", ending)
    for cut in range(len(stream) + 1):
        assert await events([stream[:cut], stream[cut:]]) == EVENTS, (ending, cut)


async def test_one_byte_at_a_time() -> None:
    stream = STREAM.replace(b"\n", b"\r\n")
    assert await events([stream[i : i + 1] for i in range(len(stream))]) == EVENTS


async def test_a_last_event_without_its_blank_line_is_still_read() -> None:
    assert await events([b'data: {"a": 1}\n\ndata: {"z": 0}']) == [b'{"a": 1}', b'{"z": 0}']
    assert await events([b'data: {"a": 1}\n']) == [b'{"a": 1}']
