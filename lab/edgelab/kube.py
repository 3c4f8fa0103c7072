"""The lab Kubernetes API: kmock's in-memory emulator with the bundled resource catalogue on 127.0.0.1:6443.

Run with `python -m edgelab.kube [--host H] [--port P]`. kmock stores objects as given (no defaults, no
controllers); the node agent plays the controllers (Nodes, Deployment status).
"""

import argparse
import asyncio
import signal

import kmock

from edgelab import config


async def serve(host: str, port: int) -> None:
    emulator = kmock.KubernetesEmulator()
    emulator.resources.load_bundled()  # without it every kind answers 404
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with emulator, kmock.Server(emulator, host=host, port=port):
        print(f"kmock Kubernetes API on http://{host}:{port}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="edgelab.kube")
    parser.add_argument("--host", default=config.KUBE_HOST)
    parser.add_argument("--port", type=int, default=config.KUBE_PORT)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
