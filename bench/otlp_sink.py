"""A tiny OTLP/HTTP sink for `bench/perf.py --otel`: answers every export 200 (an empty protobuf response).

It decodes nothing — the bench measures what exporting costs routetax, not a collector — and prints, at exit,
how many exports and bytes it took, so a run shows the spans and metrics really left the proxy.

Run: python bench/otlp_sink.py PORT
"""

from __future__ import annotations

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = {"posts": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        received["posts"] += 1
        received["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    print(f"otlp sink: {received['posts']} exports, {received['bytes']:,} bytes", flush=True)


if __name__ == "__main__":
    main()
