"""Agent code is guest code: it must not stall the gateway (docs/agents.md, "Guest code").

``pools``: bounded per-agent thread pools, and the loop's default executor that sends every
``asyncio.to_thread`` of a run to the pool of the agent being served. ``offload``: the sync
callables the SDK would call on the event loop, made to run in that pool. ``watchdog``: what
no pool can contain (blocking inside ``async def``, CPU-bound code) is at least logged and
counted, naming the agent.
"""
