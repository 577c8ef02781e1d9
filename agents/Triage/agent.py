"""Triage: routes a customer to the billing or the support specialist."""

from __future__ import annotations

from agents import Agent, function_tool


@function_tool
def check_status(service: str) -> str:
    """Check whether one of our services (email, billing, website, ...) is up.

    Args:
        service: The service name, e.g. "email".
    """
    return f"{service.strip()} is operational (no incidents reported)"


billing_agent = Agent(
    name="Billing",
    handoff_description="Handles invoices, refunds and payment questions.",
    instructions="You are a billing specialist. Answer questions about invoices, refunds and payments.",
)

support_agent = Agent(
    name="Support",
    handoff_description="Handles technical problems and how-to questions.",
    instructions=("You are a technical support specialist. Check the affected service with check_status, then help the user solve their problem step by step."),
    tools=[check_status],
)

agent = Agent(
    name="Triage",
    instructions=(
        "You are the first point of contact for customers. Decide whether the request is about "
        "billing or a technical problem and hand off to the right specialist."
    ),
    handoffs=[billing_agent, support_agent],
)
