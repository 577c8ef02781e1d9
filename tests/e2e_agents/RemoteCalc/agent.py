# A drop-in whose gateway tool lives on a streamable-HTTP MCP server (tools.yaml entry "remote").
# It keeps the deprecated import on purpose: that spelling must go on working.
from agents import Agent

from services.tools import gateway_tool

agent = Agent(name="RemoteCalc", instructions="Add with remote_add.", tools=[gateway_tool("remote_add")])
