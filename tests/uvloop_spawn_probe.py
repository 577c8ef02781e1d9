"""Run by tests/test_fast_path.py in a fresh interpreter: a gRPC server on the gateway's event
loop (``fast_path.run``, default choice) whose handler starts child processes while other calls
are in flight, as RefreshTools starts stdio MCP servers. Prints one JSON line: the loop, and how
many children exited with each return code. A child that gRPC's fork handlers kill before it
reaches exec shows as -11 (SIGSEGV): about 2 in 100 before fast_path turned them off."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from services import fast_path

CONCURRENT_CALLS = 4


async def main(spawns: int) -> dict[str, object]:
    import grpc  # once the loop is chosen, as the gateway imports it (services/cli.py)

    codes: Counter[int] = Counter()

    async def spawn(request: bytes, context: object) -> bytes:
        child = await asyncio.create_subprocess_exec(sys.executable, "-I", "-S", "-c", "", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        await child.communicate()
        codes[child.returncode if child.returncode is not None else 0] += 1
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("probe.Spawner", {"Spawn": grpc.unary_unary_rpc_method_handler(spawn)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/probe.Spawner/Spawn")

            async def caller() -> None:
                for _ in range(spawns // CONCURRENT_CALLS):
                    await call(b"", timeout=30)

            await asyncio.gather(*(caller() for _ in range(CONCURRENT_CALLS)))
    finally:
        await server.stop(None)
    return {"loop": fast_path.loop_name(), "return_codes": {str(code): n for code, n in sorted(codes.items())}}


if __name__ == "__main__":
    print(json.dumps(fast_path.run(main(int(sys.argv[1])))))
