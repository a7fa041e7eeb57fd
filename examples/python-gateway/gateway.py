#!/usr/bin/env python3
"""homing-gateway: an HTTP gateway in asyncio with homing as its routing brain.

Proof that a Python service can embed what homing-proxy does natively. For
each request the gateway asks homing's router where it goes
(``await Router.route_async()``): the router matches the route, and for an
affinity route (the seed's /join) asks the resolver who owns the client
(cached), resolves the owner's name (cached) and answers "connect to
ip:port, send Host: owner". The gateway then forwards the request with
asyncio streams and relays the answer. Routes without affinity (the seed's
/where) go to a host the router's load balancer picks. A local reply (400
missing_key, 503 resolver_unavailable, ...) is sent as homing-proxy sends
it: ``{"error": ..., "detail": ...}``.

Like homing-proxy, the gateway retries once on the new owner when the owner
answers 421 Misdirected Request, and forgets an owner that refuses
connections (the client gets a 503; its next request asks the resolver).

Usage:
    gateway.py --config proxy.yaml [--listen 127.0.0.1:8080]
               [--listener NAME_OR_INDEX] [--ready-timeout SECONDS]
               [--upstream-timeout SECONDS]

The config is homing-proxy's (examples/proxy/seed.yaml, or the one
examples/local-cluster generates); its listener addresses are not used: the
gateway listens on --listen (port 0 picks a free port). The first line on
stdout is "homing-gateway listening on IP:PORT"; then one access-log line
per request. SIGINT and SIGTERM stop it.

Standard library only, plus the homing package (bindings/python), which
finds libhoming through $HOMING_LIBRARY, its own directory or the system
loader.
"""

import argparse
import asyncio
import json
import signal
import sys
from http import HTTPStatus

import homing

MAX_HEAD = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}


class BadRequest(Exception):
    """The client sent something this gateway cannot read."""


class Message:
    """An HTTP/1.1 request or response: the first line, headers, body, and
    for a response its status."""

    def __init__(self, start_line, headers, body):
        self.start_line = start_line
        self.headers = headers  # [(name, value)] as received
        self.body = body
        self.status = None

    def header(self, name):
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None

    def keep_alive(self, version):
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        return "close" not in tokens and (version == "HTTP/1.1" or "keep-alive" in tokens)


async def read_message(reader, is_response=False, request_method="GET"):
    """Reads one message; None when the peer closed before sending one."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise BadRequest("the connection ended inside a message head") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(f"message head larger than {MAX_HEAD} bytes") from None
    lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    message = Message(lines[0], headers, b"")
    if is_response:
        try:
            message.status = int(lines[0].split(" ")[1])
        except (IndexError, ValueError):
            raise BadRequest(f"malformed status line {lines[0]!r}") from None
        if not response_has_body(request_method, message.status):
            return message
    if (message.header("transfer-encoding") or "").lower() == "chunked":
        message.body = await read_chunked(reader)
    elif message.header("content-length") is not None:
        try:
            length = int(message.header("content-length"))
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
        message.body = await reader.readexactly(length)
    elif is_response:
        message.body = await reader.read()  # until the upstream closes
    return message


async def read_chunked(reader):
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise BadRequest("malformed chunk size") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def response_has_body(request_method, status):
    return request_method != "HEAD" and status >= 200 and status not in (204, 304)


def serialize(start_line, headers, body, keep_alive, framed=True):
    """A message with our own framing: Content-Length of `body` (unless it
    is a bodiless response, whose headers are relayed as they are)."""
    lines = [start_line]
    lines += [f"{name}: {value}" for name, value in headers
              if name.lower() not in HOP_BY_HOP
              or (not framed and name.lower() == "content-length")]
    if framed:
        lines.append(f"Content-Length: {len(body)}")
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def local_reply(status, code, detail):
    """A reply in homing-proxy's shape: (status, headers, body)."""
    body = json.dumps({"error": code, "detail": detail}, separators=(",", ":")).encode()
    return status, [("Content-Type", "application/json")], body


def split_hostport(address):
    """"ip:port" or "[v6]:port" as (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Gateway:
    """Serves client connections, routing each request through `router`."""

    def __init__(self, router, upstream_timeout):
        self.router = router
        self.upstream_timeout = upstream_timeout

    async def serve_client(self, reader, writer):
        try:
            while True:
                try:
                    request = await read_message(reader)
                except (BadRequest, asyncio.IncompleteReadError) as error:
                    _, headers, body = local_reply(400, "bad_request", str(error))
                    writer.write(serialize("HTTP/1.1 400 Bad Request", headers, body,
                                           keep_alive=False))
                    break
                if request is None:
                    break
                parts = request.start_line.split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    _, headers, body = local_reply(400, "bad_request",
                                                   f"malformed request line {request.start_line!r}")
                    writer.write(serialize("HTTP/1.1 400 Bad Request", headers, body,
                                           keep_alive=False))
                    break
                method, target, version = parts
                status, headers, body = await self.handle(method, target, request)
                keep_alive = request.keep_alive(version)
                writer.write(serialize(f"HTTP/1.1 {status} {reason(status)}",
                                       headers, body, keep_alive,
                                       framed=response_has_body(method, status)))
                await writer.drain()
                if not keep_alive:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(self, method, target, request):
        """Routes and forwards one request: (status, headers, body)."""
        routed = homing.Request(method, request.header("host") or "", target,
                                request.headers)
        try:
            decision = await self.router.route_async(routed)
            answer = await self.forward(decision, method, target, request)
            if answer[0] == 421 and decision.key:
                # The owner moved (a membership change): take the new owner
                # the 421 names (if the allow-list agrees) or ask again, and
                # try the new owner once.
                owner = next((v for k, v in answer[1] if k.lower() == "x-homing-owner"),
                             None)
                self.router.misdirected(decision, owner)
                decision = await self.router.route_async(routed)
                answer = await self.forward(decision, method, target, request)
        except homing.HomingError as error:  # the router is shutting down
            return local_reply(503, "router_unavailable", str(error))
        self.log(method, target, answer[0], decision)
        return answer

    async def forward(self, decision, method, target, request):
        if not decision.forward:
            return local_reply(decision.status, decision.error, decision.detail)
        host, port = split_hostport(decision.upstream)
        headers = [(k, v) for k, v in request.headers if k.lower() != "host"]
        headers.insert(0, ("Host", decision.authority or request.header("host")
                           or decision.upstream))
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.upstream_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            # For an affinity route this also forgets the owner (crashed,
            # never said 421): the client's next request asks the resolver.
            self.router.report(decision, homing.Outcome.CONNECT_FAILURE)
            return local_reply(503, "upstream_connect_failure",
                               f"{decision.upstream}: {error or 'timeout'}")
        try:
            writer.write(serialize(f"{method} {target} HTTP/1.1", headers,
                                   request.body, keep_alive=False))
            response = await asyncio.wait_for(
                read_message(reader, is_response=True, request_method=method),
                self.upstream_timeout)
        except (OSError, BadRequest, asyncio.IncompleteReadError) as error:
            self.router.report(decision, homing.Outcome.RESET)
            return local_reply(503, "upstream_reset", f"{decision.upstream}: {error}")
        except asyncio.TimeoutError:
            self.router.report(decision, homing.Outcome.TIMEOUT)
            return local_reply(504, "upstream_timeout",
                               f"{decision.upstream}: no answer within "
                               f"{self.upstream_timeout:g} s")
        finally:
            writer.close()
        self.router.report(decision, homing.Outcome.SERVER_ERROR if response.status >= 500
                           else homing.Outcome.SUCCESS)
        return response.status, response.headers, response.body

    @staticmethod
    def log(method, target, status, decision):
        fields = [f"route={decision.route_name or '-'}"]
        if decision.key:
            fields.append(f"key={decision.key.decode('utf-8', 'replace')}")
            fields.append(f"lookup={decision.lookup_source.name.lower()}")
        if decision.forward:
            fields.append(f"upstream={decision.upstream}")
        else:
            fields.append(f"local_reply={decision.error}")
        print(f'"{method} {target}" {status} {" ".join(fields)}', flush=True)


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


async def serve(args):
    config = homing.Config.load(args.config)
    with homing.Engine() as engine:
        router = homing.Router(engine, config, args.listener)
        config.close()  # the router keeps what it needs
        # STRICT_DNS clusters (the resolver) need their first answer; wait
        # for it off the event loop.
        await asyncio.to_thread(router.wait_ready, args.ready_timeout)
        gateway = Gateway(router, args.upstream_timeout)
        host, port = split_hostport(args.listen)
        server = await asyncio.start_server(gateway.serve_client, host, port,
                                            limit=MAX_HEAD)
        bound = server.sockets[0].getsockname()
        print(f"homing-gateway listening on {bound[0]}:{bound[1]}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        async with server:
            await stop.wait()
        router.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="homing-proxy's config")
    parser.add_argument("--listen", default="127.0.0.1:8080", metavar="IP:PORT")
    parser.add_argument("--listener", default="0",
                        help="the config's listener to route for (name or index)")
    parser.add_argument("--ready-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long to wait for the resolver's first DNS answer")
    parser.add_argument("--upstream-timeout", type=float, default=15.0,
                        metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.listener.isdigit():
        args.listener = int(args.listener)
    try:
        asyncio.run(serve(args))
    except homing.HomingError as error:
        print(f"homing-gateway: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
