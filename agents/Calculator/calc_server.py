"""The Calculator agent's own MCP server (stdio), started and kept open by the gateway."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("arith")


@server.tool()
def subtract(a: float, b: float) -> float:
    """Subtract b from a."""
    return a - b


@server.tool()
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    if b == 0:
        raise ValueError("division by zero")
    return a / b


if __name__ == "__main__":
    server.run()
