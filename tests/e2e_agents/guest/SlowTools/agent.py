# A drop-in whose sync function tool blocks; tests call it several times at once.
import os
import time

from agents import Agent, function_tool

BLOCK_S = float(os.environ.get("GW_GUEST_BLOCK_S", "0.2"))

__gateway__ = {"model": "slow-tools-model", "threads": 40}


@function_tool
def slow_lookup(key: str) -> str:
    """Look a key up (slowly).

    Args:
        key: What to look up.
    """
    time.sleep(BLOCK_S)
    return f"{key}: found"


agent = Agent(name="SlowTools", instructions="Look things up.", tools=[slow_lookup])
