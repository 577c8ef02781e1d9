# A drop-in with a one-thread pool and no queue: while its sync tool runs, a second request
# is refused with 503 agent_busy (other agents are not affected).
import os
import time

from agents import Agent, function_tool

BLOCK_S = float(os.environ.get("GW_GUEST_BLOCK_S", "0.2"))

__gateway__ = {"model": "cramped-model", "threads": 1, "queue": 0}


@function_tool
def crunch(job: str) -> str:
    """Crunch a job.

    Args:
        job: The job.
    """
    time.sleep(BLOCK_S)
    return f"{job}: crunched"


agent = Agent(name="Cramped", instructions="Crunch jobs.", tools=[crunch])
