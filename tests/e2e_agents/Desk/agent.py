# A front desk that hands off to a specialist whose tool needs a human approval: the run pauses
# inside the handoff target, and resumes there.
import os

from agents import Agent, function_tool


@function_tool(needs_approval=True)
def refund(order_id: int, amount: float) -> str:
    """Refund an order (a human must approve)."""
    with open(os.environ["GW_HOOKS_LOG"], "a") as log:  # proves whether the body ran
        log.write(f"refunded {order_id}\n")
    return f"refunded {amount} on order {order_id}"


cashier = Agent(name="Cashier", handoff_description="Handles refunds.", instructions="Refund orders.", tools=[refund])
agent = Agent(name="Desk", instructions="Hand refunds to the cashier.", handoffs=[cashier])
