"""The Vault drop-in's own MCP server (stdio). Each purge it runs is appended to $GW_HOOKS_LOG."""

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("vault")


@server.tool()
def purge(bucket: str) -> str:
    """Delete every object in a bucket."""
    with open(os.environ["GW_HOOKS_LOG"], "a") as log:
        log.write(f"purged {bucket}\n")
    return f"purged {bucket}"


@server.tool()
def count(bucket: str) -> int:
    """Count the objects in a bucket."""
    return 3


if __name__ == "__main__":
    server.run()
