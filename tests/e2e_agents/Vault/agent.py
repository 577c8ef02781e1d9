# A drop-in whose own MCP server has a tool that requires approval (require_approval).
import os
import sys
from pathlib import Path

from agents import Agent
from agents.mcp import MCPServerStdio

vault = MCPServerStdio(
    name="vault",
    params={
        "command": sys.executable,
        "args": [str(Path(__file__).with_name("vault_server.py"))],
        "env": {"GW_HOOKS_LOG": os.environ.get("GW_HOOKS_LOG", os.devnull), "PATH": os.environ.get("PATH", "")},
    },
    cache_tools_list=True,
    require_approval={"always": {"tool_names": ["purge"]}},
)

agent = Agent(name="Vault", instructions="Manage buckets.", mcp_servers=[vault])
