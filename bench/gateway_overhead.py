"""What the gateway's features cost: 1 KiB Get Blob with metrics, tracing and rate limits
configured (but never hit) against the same service with all of them off, in one run.

    python -m bench.gateway_overhead [--seconds 10] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio

from bench.blob_throughput import small_ops
from bench.targets import localzure

FEATURES_ON = {
    "metrics": True,
    "tracing": True,
    "rate_limits": [{"scope": "account", "limit": "1000000/second"}, {"scope": "client", "limit": "1000000/second"}],
    "faults": [{"service": "blob", "operation": "DeleteContainer", "status": 503}],
}
FEATURES_OFF = {"metrics": False, "tracing": False, "rate_limits": [], "faults": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    rates = {}
    for name, config in (("features off", FEATURES_OFF), ("features on", FEATURES_ON)):
        with localzure("blob", config, name) as target:
            asyncio.run(small_ops(target, 1, args.clients))  # warm-up
            rates[name] = asyncio.run(small_ops(target, args.seconds, args.clients))[1]
    for name, rate in rates.items():
        print(f"{name:<13} {rate:>8.0f} Get Blob/s")
    print(f"ratio on/off: {rates['features on'] / rates['features off']:.2f}")


if __name__ == "__main__":
    main()
