# A drop-in that blocks inside an `async def` (time.sleep, not asyncio.sleep): no thread pool
# can contain that; the loop-lag watchdog must log and count it, naming this agent.
import os
import time

from agents import Agent

BLOCK_S = float(os.environ.get("GW_GUEST_BLOCK_S", "0.2"))


async def instructions(ctx, agent):
    time.sleep(BLOCK_S)  # noqa: ASYNC251 - the mistake this drop-in exists to make
    return "Answer briefly."


agent = Agent(name="Hog", instructions=instructions)
