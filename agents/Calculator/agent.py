"""Calculator: an SDK agent with an MCP server attached (Agent(mcp_servers=[...])).

The gateway connects the server once and reuses it for every request; each MCP tool call is
governed by the caller's tool allowlist like any other tool.
"""

import sys
from pathlib import Path

from agents import Agent
from agents.mcp import MCPServerStdio

arith = MCPServerStdio(
    name="arith",
    params={"command": sys.executable, "args": [str(Path(__file__).with_name("calc_server.py"))]},
    cache_tools_list=True,
)

agent = Agent(
    name="Calculator",
    instructions="You do arithmetic with the subtract and divide tools. Answer with the number only.",
    mcp_servers=[arith],
)
