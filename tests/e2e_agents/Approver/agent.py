# A drop-in whose tool needs a human approval (needs_approval=True).
import os

from agents import Agent, function_tool


@function_tool(needs_approval=True)
def close_ticket(ticket_id: int) -> str:
    """Close a ticket (a human must approve)."""
    with open(os.environ["GW_HOOKS_LOG"], "a") as log:  # proves whether the body ran
        log.write(f"closed {ticket_id}\n")
    return "closed"


agent = Agent(name="Approver", instructions="Close tickets when asked.", tools=[close_ticket])
