"""Entry point of the sandbox process (started by `ngp sandbox start`)."""

import argparse
from pathlib import Path

from ngp.sandbox.marathon import parse_nodes
from ngp.sandbox.server import serve

parser = argparse.ArgumentParser(prog="python -m ngp.sandbox")
sub = parser.add_subparsers(dest="command", required=True)
run = sub.add_parser("serve")
run.add_argument("--info", type=Path, required=True)
run.add_argument("--port", type=int, default=0)
run.add_argument("--latency-ms", type=float, default=0.0)
run.add_argument("--marathon-deploy-seconds", type=float, default=0.5)
run.add_argument("--marathon-token", default=None)
run.add_argument("--faults", default="")
run.add_argument("--model", type=float, default=0.0)
run.add_argument("--lenient", default="", help="rules to turn off, comma-separated")
run.add_argument("--marathon-nodes", default="2,1", help="private,public agents")
args = parser.parse_args()
serve(args.info, args.port, args.latency_ms, args.marathon_deploy_seconds, args.marathon_token,
      args.faults, args.model, frozenset(filter(None, args.lenient.split(","))),
      parse_nodes(args.marathon_nodes))
