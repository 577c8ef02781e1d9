# A drop-in whose sync dynamic instructions block (a slow database read, say): the gateway
# must run them off the event loop. How long they block: $GW_GUEST_BLOCK_S (default 0.2 s).
import os
import time

from agents import Agent

BLOCK_S = float(os.environ.get("GW_GUEST_BLOCK_S", "0.2"))


def instructions(ctx, agent):
    time.sleep(BLOCK_S)
    return "Answer briefly."


agent = Agent(name="SlowPrompt", instructions=instructions)
