"""An "MCP server" that reads requests and never answers (start-up timeout tests). Exits at stdin EOF."""

import sys

for _line in sys.stdin:
    pass
