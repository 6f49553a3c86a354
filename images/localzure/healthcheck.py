"""Container health: HEALTH_URL answers 2xx, or HEALTH_PORT accepts a TCP connection.

Defaults to the control plane's own health endpoint.
"""

import os
import socket
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("HEALTH_PORT")
    url = os.environ.get("HEALTH_URL")
    try:
        if port and not url:
            socket.create_connection(("127.0.0.1", int(port)), 2).close()
            return 0
        with urllib.request.urlopen(url or "http://127.0.0.1:8080/health", timeout=2) as response:
            return 0 if 200 <= response.status < 300 else 1
    except Exception as exc:  # any failure is "unhealthy"; the reason goes to docker inspect
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
