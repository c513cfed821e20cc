"""A TCP relay, run in a container on a swarm stack's overlay network with its ports published on the
host's loopback (like `kubectl port-forward`): the runner's readiness polls, response checks and
Envoy admin reads reach the stack's services by name from inside the overlay, where swarm's DNS
answers (the routing mesh and service VIPs do not work on every engine).

    python relay.py LISTEN=SERVICE:PORT ...     e.g. 8000=app:5000 8001=sidecar:15000

Each connection resolves SERVICE anew (dnsrr: one of its replicas). Standard library only.
"""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(port: int, host: str, target: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, target)
        except OSError:
            writer.close()  # not resolvable or not listening yet: the caller sees a closed connection
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, "0.0.0.0", port)
    await server.serve_forever()


async def _main(routes: list[str]) -> None:
    served = []
    for route in routes:
        listen, _, upstream = route.partition("=")
        host, _, port = upstream.rpartition(":")
        served.append(_serve(int(listen), host, int(port)))
    await asyncio.gather(*served)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
