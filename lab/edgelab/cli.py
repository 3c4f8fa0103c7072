"""`lab up|down|status|logs|env|resources|reset|device`: the lab's command line (wrapped by lab/bin/lab)."""

import argparse
import json
import sys
import time
import urllib.request

from edgelab import config, services
from edgelab.dockerctl import containers, docker
from edgelab.nodes import isolation


def kube_env() -> dict:
    """The lab Kubernetes API and its LAB-ONLY admin token (EKS has no such thing; see docs/lab.md), under lab names:
    not kubernetes.core's K8S_AUTH_*, which it prefers to any kubeconfig, so an exported admin token would let the
    product's stages skip their own EKS credentials (and the access entries) without anyone noticing."""
    from edgelab import kubetls
    files = kubetls.ensure()
    return {"EDGELAB_KUBE_URL": config.KUBE_URL, "EDGELAB_KUBE_ADMIN_TOKEN": files.admin_token,
            "EDGELAB_KUBE_CA_CERT": str(files.ca_cert)}


ENV = {
    "AWS_ENDPOINT_URL": config.AWS_URL,
    **config.CREDENTIALS,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE": str(config.CATALOG_DIR),
    "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE": str(config.CATALOG_DIR),
    "AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE": config.JUMPSTART_CONTENT_BUCKET,
    "AWS_JUMPSTART_GATED_CONTENT_BUCKET_OVERRIDE": config.JUMPSTART_GATED_CONTENT_BUCKET,
    "EDGELAB_DOCKER_HOST": config.DOCKER_HOST,
}


def print_env() -> None:
    for key, value in {**ENV, **kube_env()}.items():
        print(f"export {key}={value}")


def up(args) -> int:
    from edgelab import catalog, images

    start = time.monotonic()
    for svc in services.SERVICES:
        if svc.name == "agent":  # the agent needs the node image
            images.build_node_image(log=lambda m: print(f"  {m}", flush=True))
        t = time.monotonic()
        status = svc.start()
        print(f"{svc.name:16} {status} ({time.monotonic() - t:.1f}s)", flush=True)
        if svc.name == "dockerd" and status == "started":
            (services.RUN / "dockerd.owned").touch()
    if not args.no_seed:
        t = time.monotonic()
        print(f"{'catalog':16} {catalog.seed(log=lambda m: print(f'  {m}', flush=True))} "
              f"({time.monotonic() - t:.1f}s)", flush=True)
    print(f"lab up in {time.monotonic() - start:.1f}s; environment for clients:")
    print_env()
    return 0


def remove_lab_containers() -> int:
    if not services.docker_ok():
        return 0
    names = containers("edgelab.role")
    if names:
        docker("rm", "-f", *names, timeout=120)
    return len(names)


def down(args) -> int:
    agent, dockerd = services.by_name("agent"), services.by_name("dockerd")
    agent.stop()  # first, so that it does not recreate containers
    print(f"removed {remove_lab_containers()} node/pod containers")
    isolation.Fence.clear()  # the agent removes it on exit; not when it was killed
    for svc in reversed(services.SERVICES):
        if svc is dockerd and not (services.RUN / "dockerd.owned").exists():
            continue  # an external dockerd (not started by the lab) stays
        if svc.stop():
            print(f"{svc.name:16} stopped")
    (services.RUN / "dockerd.owned").unlink(missing_ok=True)
    services.AGENT_HEARTBEAT.unlink(missing_ok=True)
    return 0


def status(args) -> int:
    ok = True
    for svc in services.SERVICES:
        healthy = svc.healthy()
        ok &= healthy
        pid = svc.pid()
        owner = f"pid {pid}" if pid else "external" if healthy else ""
        print(f"{svc.name:16} {'healthy' if healthy else 'DOWN':8} {owner}")
    return 0 if ok else 1


def logs(args) -> int:
    names = [args.service] if args.service else [s.name for s in services.SERVICES]
    for name in names:
        path = services.by_name(name).logfile
        lines = path.read_text(errors="replace").splitlines()[-args.lines:] if path.exists() else []
        print(f"==> {path} <==", *lines, sep="\n")
    return 0


def _control(method: str, what: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{config.AWS_URL}/_lab/{what}", data=data, method=method,  # noqa: S310
                                 headers={"Content-Type": "application/json"})  # (the lab AWS endpoint: http)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read())


def resources(args) -> int:
    """What exists in the lab AWS (non-default resources, elastic addresses by allocation id)."""
    res = _control("GET", "resources")
    print(json.dumps(res if args.all else {k: v for k, v in res.items() if v}, indent=2, sort_keys=True))
    return 0


def reset(args) -> int:
    """Forget every AWS resource (moto's and the lab's: elastic addresses too); the agent then removes nodes."""
    _control("POST", "reset", {"config": not args.keep_config})
    print("lab AWS reset")
    return 0


def device(args) -> int:
    """An HTTP request from a device on the carrier network (source address in config.DEVICE_NETWORK)."""
    from edgelab import device as dev

    if not dev.in_device_network(args.source):
        print(f"lab device: --from {args.source} is not in the device network {config.DEVICE_NETWORK}",
              file=sys.stderr)
        return 2
    headers = {}
    for item in args.header:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            print(f"lab device: --header {item!r} is not K:V", file=sys.stderr)
            return 2
        headers[key.strip()] = value.strip()
    data = args.data.encode() if args.data is not None else None
    try:
        status_code, _, body = dev.request(args.url, data=data, headers=headers, source=args.source,
                                           timeout=args.timeout)
    except ValueError as exc:
        print(f"lab device: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # TimeoutError, ConnectionError, ...
        print(f"lab device: {args.url} from {args.source}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(status_code)
    sys.stdout.write(body.decode(errors="replace"))
    if body and not body.endswith(b"\n"):
        print()
    return 0 if status_code < 400 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="The offline edge lab (emulated AWS Wavelength + EKS).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start every service (idempotent) and seed the JumpStart catalog")
    p_up.add_argument("--no-seed", action="store_true", help="skip the catalog seeding")
    p_up.set_defaults(func=up)
    sub.add_parser("down", help="stop everything, remove node and pod containers").set_defaults(func=down)
    sub.add_parser("status", help="each service and its health (exit 1 if one is down)").set_defaults(func=status)
    p_logs = sub.add_parser("logs", help="tail the service logs")
    p_logs.add_argument("service", nargs="?", choices=[s.name for s in services.SERVICES])
    p_logs.add_argument("-n", "--lines", type=int, default=40)
    p_logs.set_defaults(func=logs)
    sub.add_parser("env", help="print the environment a client needs").set_defaults(func=lambda a: print_env() or 0)
    p_res = sub.add_parser("resources", help="resources left in the lab AWS (as GET /_lab/resources)")
    p_res.add_argument("--all", action="store_true", help="also list the empty kinds")
    p_res.set_defaults(func=resources)
    p_reset = sub.add_parser("reset", help="forget every lab AWS resource (as POST /_lab/reset)")
    p_reset.add_argument("--keep-config", action="store_true", help="keep the run-time delays/faults")
    p_reset.set_defaults(func=reset)
    p_dev = sub.add_parser("device", help="an HTTP request from a device on the carrier network",
                           description="GET (POST with --data) URL from a device address; prints the status and "
                           "the body. Exit 0 on an HTTP answer < 400, 1 on no answer (timeout, connection error) "
                           "or an HTTP error status, 2 on bad arguments.")
    p_dev.add_argument("--from", dest="source", default=config.DEVICE_ADDRESS, metavar="ADDR",
                       help=f"source address, in the device network {config.DEVICE_NETWORK} "
                       f"(default {config.DEVICE_ADDRESS})")
    p_dev.add_argument("--data", help="request body (the request becomes a POST)")
    p_dev.add_argument("--header", action="append", default=[], metavar="K:V", help="a request header (repeatable)")
    p_dev.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds (default 5)")
    p_dev.add_argument("url", metavar="URL")
    p_dev.set_defaults(func=device)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
