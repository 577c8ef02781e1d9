"""TicketBot: a drop-in agent using gateway catalogue tools (config/tools.yaml) via gateway_tool."""

from agents import Agent

from agentgateway import gateway_tool

agent = Agent(
    name="TicketBot",
    instructions="You help with support tickets. Use lookup_ticket to read a ticket and calc_add for arithmetic.",
    tools=[gateway_tool("lookup_ticket"), gateway_tool("calc_add")],
)
