"""An HTTP/1.1 origin that records every byte it receives, for tests that
check what a proxy forwarded (request smuggling, framing differentials).

    backend = CaptureBackend("127.0.1.160")   # listens on a free port
    backend.start()
    ... send requests through the proxy ...
    for connection in backend.connections():
        connection.received     # every byte of that connection, as read
        connection.framing()    # http1_wire.frame_requests(received)
    backend.stop()

Each request it can frame (tests/support/http1_wire.py, strict) gets a 200
with header `x-capture-seq: <n>` and body "capture seq=<n> <method> <target>"
(an empty one for HEAD, so any reader frames it alike), n counting the backend's requests from 1, and the
connection stays open. Bytes it cannot
frame get a 400 and a close, as a strict origin would answer them; they stay
in `received` for the test to see. It never switches protocols, so an
Upgrade request is answered like any other (the upgrade declined).

In-process, a thread per connection; standard library only.
"""

import socket
import threading

import http1_wire

SEQUENCE_HEADER = "x-capture-seq"


class CapturedConnection:
    """One TCP connection the backend accepted."""

    def __init__(self, peer):
        self.peer = peer
        self._lock = threading.Lock()
        self._received = bytearray()
        self.closed = False

    @property
    def received(self):
        with self._lock:
            return bytes(self._received)

    def framing(self):
        return http1_wire.frame_requests(self.received)

    def _append(self, data):
        with self._lock:
            self._received += data


class CaptureBackend:
    def __init__(self, ip, port=0):
        self._listener = socket.create_server((ip, port))
        self.address = self._listener.getsockname()
        self._lock = threading.Lock()
        self._connections = []
        self._sockets = set()
        self._sequence = 0
        self._stopping = False
        self._threads = []

    @property
    def port(self):
        return self.address[1]

    def start(self):
        self._spawn(self._accept_loop)
        return self

    def stop(self):
        """Closes the listener and every connection; joins the threads."""
        self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self.close_connections()
        for thread in list(self._threads):
            thread.join(5)

    def connections(self):
        with self._lock:
            return list(self._connections)

    def received_total(self):
        """Bytes received over all connections so far."""
        return sum(len(connection.received) for connection in self.connections())

    def close_connections(self):
        """Closes every open connection (the next test starts clean)."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self):
        while not self._stopping:
            try:
                sock, peer = self._listener.accept()
            except OSError:
                return
            connection = CapturedConnection(peer)
            with self._lock:
                self._connections.append(connection)
                self._sockets.add(sock)
            self._spawn(self._serve, sock, connection)

    def _next_sequence(self):
        with self._lock:
            self._sequence += 1
            return self._sequence

    def _serve(self, sock, connection):
        answered = 0  # requests of this connection answered so far
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                connection._append(data)
                framing = connection.framing()
                for request in framing.requests[answered:]:
                    sequence = self._next_sequence()
                    body = b"" if request.method == "HEAD" else b"capture seq=%d %s %s\n" % (
                        sequence, request.method.encode(), request.target.encode("latin-1"))
                    sock.sendall(b"HTTP/1.1 200 OK\r\n%s: %d\r\ncontent-type: text/plain\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (
                                     SEQUENCE_HEADER.encode(), sequence, len(body), body))
                answered = len(framing.requests)
                if framing.error:
                    body = b"capture: %s\n" % framing.error.encode("utf-8", "replace")
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
                    return
        except OSError:
            return
        finally:
            connection.closed = True
            with self._lock:
                self._sockets.discard(sock)
            sock.close()
