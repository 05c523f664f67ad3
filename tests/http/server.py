#!/usr/bin/env python3
"""Loopback HTTP/1.1 server recording each request the HTTP sink's tests make.

Usage:
  server.py --port P [--host 127.0.0.1] --log FILE [--ready FILE]
            [--tls-cert CERT --tls-key KEY]

--port 0 picks a free port; --ready FILE receives the bound port plus "\\n",
written atomically (FILE.tmp renamed), once the server listens. --host may be
an IPv6 address such as ::1. With --tls-cert/--tls-key it serves HTTPS; a
failed handshake only drops that connection. SIGTERM or SIGINT exit with 0.

Log format. Every request except to /_control appends one line to FILE,
written and flushed before the answer is sent. The line is space-separated
name=value tokens in this fixed order, each value percent-encoded with
urllib.parse.quote(value, safe='') so no value holds a space or newline:

  n=<1-based request number over this process's lifetime>
  method=<GET|POST|PUT|...>
  path=<path including query>
  answer=<HTTP status sent, or "hang", or "close">
  conn=<client's source port; equal on requests of one connection>
  key=<Idempotency-Key header or ->
  type=<Content-Type header or ->
  encoding=<Content-Encoding header or ->
  raw=<body length as received (after chunked decoding)>
  body=<body length after gzip decoding, or - if it could not be decoded>
  seqs=<comma-separated "seq" values in body order, or - if none>
  reasons=<comma-separated "seq:reason" of the events that carry a
           "reason", in body order, or - if none>
  error=<- or: gzip (undecodable gzip), encoding (unknown Content-Encoding),
         json (body does not parse as its content type says),
         seq (an object lacks an integer "seq"), type (unknown content type)>
  headers=<request headers as "name:value", names lower-cased, joined with
           "\\n", percent-encoded as a whole>
  otlp=<- or, for an OTLP logs request: the resource attributes as
        "key=value" joined with ";", then "|", then each log record as
        "seq:severityNumber:severityText" joined with ",">

Bodies: "application/json" must be a JSON array of objects;
"application/x-ndjson" is one JSON object per non-empty line. Parameters such
as ";charset=utf-8" are ignored.

OTLP. A request to /v1/logs must be an OTLP/HTTP JSON logs request
(ExportLogsServiceRequest) with Content-Type application/json: it is checked
against the OTLP JSON encoding rules (see check_otlp) and, if it breaks one,
logged with error=otlp and answered 400 with the reason as a text/plain body,
whatever the control mode says. Its seqs are the zmq.seq attributes of its
log records. A request whose body ends early because the
client went away is not recorded.

Control. POST /_control with a one-line body sets how recorded requests are
answered and replies "200 ok\\n"; a malformed command gets 400 and the reason.
  ok                        answer 200 {"ok":true} (the default)
  status CODE [COUNT] [retry-after VALUE]
                            answer CODE (200-599); VALUE, the rest of the line,
                            is sent verbatim as Retry-After
  hang [COUNT]              record, then never answer; hold the connection
  close [COUNT]             record, then close the connection unanswered
COUNT 0 or omitted means until the next command; otherwise the mode returns to
ok after COUNT recorded requests. GET /_control answers the number of
recorded requests, e.g. "12\\n".
"""

import argparse
import gzip
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PATH = "/_control"
OK_BODY = b'{"ok":true}'
# Statuses that must not carry a body (RFC 9110).
BODYLESS_STATUSES = {204, 304}


@dataclass
class Mode:
    """How to answer recorded requests: kind is ok, status, hang or close."""
    kind: str = "ok"
    code: int = 200
    remaining: int = 0  # 0 means "until the next control command"
    retry_after: str | None = None

    def answer_name(self):
        return str(self.code) if self.kind in ("ok", "status") else self.kind


class ControlError(ValueError):
    """A /_control command that cannot be understood; str() is the reason."""


STATUS_COMMAND = re.compile(
    r"status\s+(?P<code>\d+)(?:\s+(?P<count>\d+))?"
    r"(?:\s+retry-after\s+(?P<retry_after>\S.*?))?\s*")
COUNTED_COMMAND = re.compile(r"(?P<kind>hang|close)(?:\s+(?P<count>\d+))?\s*")


def parse_control(text):
    """Turn a control command line into a Mode; raises ControlError."""
    line = text.strip()
    if "\n" in line or "\r" in line:
        raise ControlError("one command per request")
    if line == "ok":
        return Mode()
    match = STATUS_COMMAND.fullmatch(line)
    if match:
        code = int(match["code"])
        if not 200 <= code <= 599:
            raise ControlError("status CODE must be 200-599")
        return Mode("status", code, int(match["count"] or 0),
                    match["retry_after"])
    match = COUNTED_COMMAND.fullmatch(line)
    if match:
        return Mode(match["kind"], remaining=int(match["count"] or 0))
    raise ControlError(
        "expected: ok | status CODE [COUNT] [retry-after VALUE]"
        " | hang [COUNT] | close [COUNT]; got: " + line)


class Recorder:
    """Numbers and logs requests and hands out answers, under one lock."""

    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8")
        self.count = 0
        self.mode = Mode()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode

    def recorded_count(self):
        with self.lock:
            return self.count

    def record(self, method, path, details, refusal=None):
        """Log one request and return the Mode to answer it with; details
        are the (name, value) fields that follow answer= on the line. A
        refusal (an invalid OTLP request) is the answer instead of the
        mode, which it leaves as it is.

        Numbering, logging and consuming a counted mode happen together so
        that concurrent connections see a consistent sequence."""
        with self.lock:
            self.count += 1
            mode = refusal or self._take_mode()
            fields = [("n", str(self.count)), ("method", method),
                      ("path", path), ("answer", mode.answer_name()),
                      *details]
            self.log.write(format_log_line(fields))
            self.log.flush()
            return mode

    def _take_mode(self):
        mode = self.mode
        if mode.remaining > 0:
            mode.remaining -= 1
            if mode.remaining == 0:
                self.mode = Mode()
        return mode


def format_log_line(fields):
    return " ".join(name + "=" + urllib.parse.quote(value, safe="")
                    for name, value in fields) + "\n"


class IncompleteBody(Exception):
    """The client closed the connection before sending the whole body."""


def read_exactly(rfile, length):
    data = rfile.read(length)
    if len(data) != length:
        raise IncompleteBody()
    return data


def read_chunked(rfile):
    """Read a chunked body (RFC 9112 section 7.1), discarding trailers."""
    chunks = []
    while True:
        size_line = rfile.readline(65537)
        if not size_line.endswith(b"\n"):
            raise IncompleteBody()
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        chunks.append(read_exactly(rfile, size))
        read_exactly(rfile, 2)  # the CRLF after each chunk
    while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
        pass
    return b"".join(chunks)


def decode_body(raw, encoding):
    """Undo Content-Encoding; return (decoded bytes or None, error)."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw, "-"
    if name not in ("gzip", "x-gzip"):
        return None, "encoding"
    try:
        return gzip.decompress(raw), "-"
    except (OSError, EOFError, zlib.error):
        return None, "gzip"


def parse_events(body, content_type):
    """Return (list of event objects or None, error) for a decoded body."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/json":
            events = json.loads(body)
            if not isinstance(events, list):
                return None, "json"
        elif media_type == "application/x-ndjson":
            events = [json.loads(line) for line in body.split(b"\n")
                      if line.strip()]
        elif not media_type and not body:
            return [], "-"
        else:
            return None, "type"
    except (ValueError, UnicodeDecodeError):
        return None, "json"
    if not all(isinstance(event, dict) for event in events):
        return None, "json"
    return events, "-"


OTLP_LOGS_PATH = "/v1/logs"


class OtlpError(ValueError):
    """An OTLP request that breaks the JSON encoding rules; str() says how."""


def otlp_fields(obj, where, allowed, required=()):
    """Check that obj is an object with only allowed (and all required)
    members."""
    if not isinstance(obj, dict):
        raise OtlpError(where + ": not an object")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise OtlpError(where + ": unknown field " + unknown[0])
    for name in required:
        if name not in obj:
            raise OtlpError(where + ": " + name + " missing")


def otlp_list(obj, where):
    if not isinstance(obj, list):
        raise OtlpError(where + ": not a list")
    return obj


def otlp_int_string(value, where):
    """64-bit integers are decimal strings in OTLP JSON."""
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value):
        raise OtlpError(where + ": not a decimal string")
    return int(value)


def otlp_any_value(value, where):
    """An AnyValue with exactly one of the scalar kinds zmqsink may send;
    returns it as text."""
    kinds = ("stringValue", "intValue", "boolValue", "doubleValue")
    otlp_fields(value, where, kinds)
    if len(value) != 1:
        raise OtlpError(where + ": exactly one of " + "/".join(kinds))
    kind, item = next(iter(value.items()))
    if kind == "stringValue" and not isinstance(item, str):
        raise OtlpError(where + ".stringValue: not a string")
    if kind == "intValue":
        otlp_int_string(item, where + ".intValue")
    if kind == "boolValue" and not isinstance(item, bool):
        raise OtlpError(where + ".boolValue: not a boolean")
    if kind == "doubleValue" and (isinstance(item, bool) or
                                  not isinstance(item, (int, float))):
        raise OtlpError(where + ".doubleValue: not a number")
    return str(item)


def otlp_attributes(attributes, where):
    """A list of KeyValue with unique non-empty keys; returns a dict of
    their values as text."""
    found = {}
    for i, attribute in enumerate(otlp_list(attributes, where)):
        here = "%s[%d]" % (where, i)
        otlp_fields(attribute, here, ("key", "value"), ("key", "value"))
        key = attribute["key"]
        if not isinstance(key, str) or not key:
            raise OtlpError(here + ".key: not a non-empty string")
        if key in found:
            raise OtlpError(here + ": key " + key + " repeated")
        found[key] = otlp_any_value(attribute["value"], here + ".value")
    return found


RECORD_FIELDS = ("timeUnixNano", "observedTimeUnixNano", "severityNumber",
                 "severityText", "body", "attributes",
                 "droppedAttributesCount", "flags", "traceId", "spanId",
                 "eventName")


def otlp_record(record, where):
    """Check one LogRecord; returns "seq:severityNumber:severityText"."""
    otlp_fields(record, where, RECORD_FIELDS, ("timeUnixNano",))
    for name in ("timeUnixNano", "observedTimeUnixNano"):
        if name in record and not (isinstance(record[name], str) and
                                   record[name].isdigit()):
            raise OtlpError(where + "." + name + ": not a string of digits")
    number = record.get("severityNumber", 0)
    if "severityNumber" in record and (
            not isinstance(number, int) or isinstance(number, bool) or
            not 1 <= number <= 24):
        raise OtlpError(where + ".severityNumber: not an integer in 1..24")
    text = record.get("severityText", "")
    if not isinstance(text, str):
        raise OtlpError(where + ".severityText: not a string")
    if "body" in record:
        otlp_any_value(record["body"], where + ".body")
    attributes = otlp_attributes(record.get("attributes", []),
                                 where + ".attributes")
    if "zmq.seq" not in attributes:
        raise OtlpError(where + ": no zmq.seq attribute")
    return "%s:%d:%s" % (attributes["zmq.seq"], number, text)


def check_otlp(request):
    """Check an ExportLogsServiceRequest; returns (seqs, summary) or raises
    OtlpError."""
    otlp_fields(request, "request", ("resourceLogs",), ("resourceLogs",))
    resources, records = [], []
    for i, logs in enumerate(otlp_list(request["resourceLogs"],
                                       "resourceLogs")):
        where = "resourceLogs[%d]" % i
        otlp_fields(logs, where, ("resource", "scopeLogs", "schemaUrl"),
                    ("scopeLogs",))
        resource = logs.get("resource", {})
        otlp_fields(resource, where + ".resource",
                    ("attributes", "droppedAttributesCount"))
        attributes = otlp_attributes(resource.get("attributes", []),
                                     where + ".resource.attributes")
        resources += [k + "=" + v for k, v in sorted(attributes.items())]
        for j, scope_logs in enumerate(otlp_list(logs["scopeLogs"],
                                                 where + ".scopeLogs")):
            here = "%s.scopeLogs[%d]" % (where, j)
            otlp_fields(scope_logs, here, ("scope", "logRecords", "schemaUrl"),
                        ("logRecords",))
            scope = scope_logs.get("scope", {})
            otlp_fields(scope, here + ".scope",
                        ("name", "version", "attributes",
                         "droppedAttributesCount"))
            for name in ("name", "version"):
                if not isinstance(scope.get(name, ""), str):
                    raise OtlpError(here + ".scope." + name +
                                    ": not a string")
            for k, record in enumerate(otlp_list(scope_logs["logRecords"],
                                                 here + ".logRecords")):
                records.append(otlp_record(
                    record, "%s.logRecords[%d]" % (here, k)))
    seqs = [record.split(":", 1)[0] for record in records]
    return seqs, ";".join(resources) + "|" + ",".join(records)


def analyse_otlp(body):
    """Return (seqs, summary, error, reason) log values for an OTLP body."""
    try:
        seqs, summary = check_otlp(json.loads(body))
    except (ValueError, UnicodeDecodeError) as error:
        return "-", "-", "otlp", str(error)
    return ",".join(seqs) or "-", summary, "-", None


def event_seqs(events):
    """Return the "seq" values as strings, or None if one is missing."""
    seqs = [event.get("seq") for event in events]
    if not all(isinstance(seq, int) and not isinstance(seq, bool)
               for seq in seqs):
        return None
    return [str(seq) for seq in seqs]


def event_reasons(events, seqs):
    """Return "seq:reason" of the events that carry a reason, joined."""
    return ",".join(seq + ":" + str(event["reason"])
                    for seq, event in zip(seqs, events)
                    if "reason" in event) or "-"


def analyse_body(raw, content_type, encoding):
    """Return the (body, seqs, reasons, error) log values for a body."""
    body, error = decode_body(raw, encoding)
    if body is None:
        return "-", "-", "-", error
    events, error = parse_events(body, content_type)
    if events is None:
        return str(len(body)), "-", "-", error
    seqs = event_seqs(events)
    if seqs is None:
        return str(len(body)), "-", "-", "seq"
    return (str(len(body)), ",".join(seqs) or "-",
            event_reasons(events, seqs), "-")


class RecordingHandler(BaseHTTPRequestHandler):
    """Serves one connection: control requests and recorded requests."""

    protocol_version = "HTTP/1.1"
    server_version = "zmqsink-test-http/1"

    def handle_any_method(self):
        if urllib.parse.urlsplit(self.path).path == CONTROL_PATH:
            self.handle_control()
        else:
            self.handle_recorded()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = \
        do_OPTIONS = handle_any_method

    def receive_body(self):
        """Return the request body, or None after dealing with a broken one
        (client gone: just close; malformed framing: answer 400 and close)."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return read_chunked(self.rfile)
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError("negative Content-Length")
            return read_exactly(self.rfile, length)
        except IncompleteBody:
            self.close_connection = True
        except ValueError:
            self.send_error(400, "bad Content-Length or chunk size")
        return None

    def handle_control(self):
        body = self.receive_body()
        if body is None:
            return
        recorder = self.server.recorder
        if self.command == "GET":
            self.send_plain(200, "%d\n" % recorder.recorded_count())
        elif self.command != "POST":
            self.send_plain(405, "use GET or POST on " + CONTROL_PATH + "\n")
        else:
            try:
                recorder.set_mode(parse_control(
                    body.decode("utf-8", "replace")))
                self.send_plain(200, "200 ok\n")
            except ControlError as error:
                self.send_plain(400, str(error) + "\n")

    def handle_recorded(self):
        raw = self.receive_body()
        if raw is None:
            return
        details, invalid = self.log_details(raw)
        refusal = Mode("status", 400) if invalid else None
        mode = self.server.recorder.record(self.command, self.path, details,
                                           refusal)
        if invalid:
            self.send_plain(400, "invalid OTLP: " + invalid + "\n")
        elif mode.kind == "hang":
            self.hang_until_closed()
        elif mode.kind == "close":
            self.close_connection = True
        else:
            self.send_answer(mode)

    def log_details(self, raw):
        """Log fields of this request from conn= on, in order, and why an
        OTLP request is invalid (None when it is not)."""
        headers = self.headers
        body, seqs, reasons, error = analyse_body(
            raw, headers.get("Content-Type"), headers.get("Content-Encoding"))
        otlp, invalid = "-", None
        if urllib.parse.urlsplit(self.path).path == OTLP_LOGS_PATH:
            decoded, _ = decode_body(raw, headers.get("Content-Encoding"))
            media_type = (headers.get("Content-Type") or "").split(";")[0]
            if media_type.strip().lower() != "application/json":
                error, invalid = "otlp", "Content-Type is not application/json"
            elif error in ("-", "json") and decoded is not None:
                seqs, otlp, error, invalid = analyse_otlp(decoded)
                reasons = "-"
            else:
                invalid = "body: " + error
        return [
            ("conn", str(self.client_address[1])),
            ("key", headers.get("Idempotency-Key", "-")),
            ("type", headers.get("Content-Type", "-")),
            ("encoding", headers.get("Content-Encoding", "-")),
            ("raw", str(len(raw))),
            ("body", body),
            ("seqs", seqs),
            ("reasons", reasons),
            ("error", error),
            ("headers", "\n".join(name.lower() + ":" + value
                                  for name, value in headers.items())),
            ("otlp", otlp),
        ], invalid

    def send_answer(self, mode):
        if mode.code < 300:
            body = OK_BODY
        else:
            body = json.dumps({"ok": False, "status": mode.code},
                              separators=(",", ":")).encode()
        if mode.code in BODYLESS_STATUSES:
            body = b""
        extra = {"Retry-After": mode.retry_after} if mode.retry_after else {}
        self.send_body(mode.code, "application/json", body, extra)

    def send_plain(self, code, text):
        self.send_body(code, "text/plain; charset=utf-8", text.encode(), {})

    def send_body(self, code, content_type, body, extra_headers):
        self.send_response(code)
        if body or code not in BODYLESS_STATUSES:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def hang_until_closed(self):
        """Never answer; block reading (and discarding) until the client
        closes, so the connection stays open without spinning."""
        self.close_connection = True
        try:
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def log_message(self, format, *args):
        """Silence the per-request access log; errors use log_error."""

    def log_error(self, format, *args):
        sys.stderr.write("server.py: %s: %s\n"
                         % (self.address_string(), format % args))


class RecordingServer(ThreadingHTTPServer):
    """Threaded server that owns the Recorder and optional TLS context."""

    daemon_threads = True
    block_on_close = False  # connections may hang forever; never wait

    def __init__(self, address, recorder, tls_context):
        self.recorder = recorder
        self.tls_context = tls_context
        super().__init__(address, RecordingHandler)

    def server_bind(self):
        # Skip HTTPServer's getfqdn(), a reverse lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        # Handshake here, in the connection's own thread, so a slow or
        # refusing client cannot stall accept() for the others.
        try:
            request = self.tls_context.wrap_socket(request, server_side=True)
        except OSError:
            request.close()
            return
        try:
            super().finish_request(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that goes away mid-answer is normal in these tests.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class RecordingServer6(RecordingServer):
    address_family = socket.AF_INET6


def make_tls_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def write_ready_file(path, port):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="ascii") as ready:
        ready.write("%d\n" % port)
    os.rename(temporary, path)


class Stop(Exception):
    """Raised by the signal handler to leave serve_forever()."""


def raise_stop(signum, frame):
    raise Stop()


def exit_with_parent():
    """Exits when the test that started the server dies without stopping
    it (a crash skips its teardown), so no server outlives its test."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log", required=True)
    parser.add_argument("--ready")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    arguments = parser.parse_args(argv)
    if bool(arguments.tls_cert) != bool(arguments.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return arguments


def main(argv):
    arguments = parse_arguments(argv)
    tls_context = None
    if arguments.tls_cert:
        tls_context = make_tls_context(arguments.tls_cert, arguments.tls_key)
    server_class = RecordingServer6 if ":" in arguments.host \
        else RecordingServer
    server = server_class((arguments.host, arguments.port),
                          Recorder(arguments.log), tls_context)
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGINT, raise_stop)
    exit_with_parent()
    if arguments.ready:
        write_ready_file(arguments.ready, server.server_address[1])
    try:
        server.serve_forever()
    except Stop:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
