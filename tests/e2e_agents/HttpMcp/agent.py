# A drop-in with its own MCP server over streamable HTTP (the test calc server; its URL comes
# from the test gateway's environment). Connected at first use, reused by every run.
import os

from agents import Agent
from agents.mcp import MCPServerStreamableHttp

calc = MCPServerStreamableHttp(params={"url": os.environ.get("GW_MCP_HTTP_URL", "http://127.0.0.1:9/mcp")}, name="remote-calc")

agent = Agent(name="HttpMcp", instructions="Add numbers with the add tool.", mcp_servers=[calc])
