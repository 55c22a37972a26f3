#!/usr/bin/python3
"""An SMTP server whose SCRAM-SHA-256(-PLUS) is checked by PostgreSQL.

GNU SASL implements no tls-server-end-point channel binding (RFC 5929
section 4.1), the one our client uses on TLS 1.2. PostgreSQL's server does,
and only that one. So this bridge speaks SMTP (with STARTTLS, TLS 1.2 only)
to our client and relays the SCRAM messages of its AUTH, unchanged, to a
PostgreSQL server as the SASL exchange of a PostgreSQL login. It presents
the same certificate and key as that server: tls-server-end-point is a hash
of the server certificate, so the binding data is the same on both
connections and PostgreSQL checks the client's channel binding and proof
itself. (A relay like this one is exactly what tls-server-end-point cannot
stop when the relay holds the certificate's key; tls-exporter can.)

Python 3 standard library only. Serves one SMTP connection at a time and
logs one line per AUTH to --log (see interop/postgres/README.md).
"""

import argparse
import base64
import binascii
import socket
import ssl
import struct
import sys
import time

# RFC 4954 section 4: an AUTH command line may be up to 12288 octets; no
# line this server reads needs more.
LINE_MAX = 12288
# Bound on one PostgreSQL message; authentication messages are tiny.
PG_MESSAGE_MAX = 65536
# Per read on either side, and per SMTP session as a whole, so a silent or
# trickling client cannot hold the (sequential) server for long.
READ_TIMEOUT = 30
SESSION_SECONDS = 120
# A client sending nothing but bad commands is hung up on.
MAX_ERRORS = 20

SSL_REQUEST_CODE = 80877103
PROTOCOL_3_0 = 3 << 16
# AuthenticationRequest codes (PostgreSQL protocol, "Message Formats").
AUTH_OK, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 10, 11, 12

MECHANISMS = ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")


class Hangup(Exception):
    """The SMTP client closed the connection."""


class LineTooLong(Exception):
    """The SMTP client sent a line longer than LINE_MAX."""


class PgFailure(Exception):
    """PostgreSQL answered with an ErrorResponse."""

    def __init__(self, fields):
        super().__init__(fields.get("M", "?"))
        self.message = printable(fields.get("M", "(no message)"), 400)
        self.sqlstate = printable(fields.get("C", "-"), 5)


class PgProtocolError(Exception):
    """PostgreSQL, or the way to it, did not behave as expected: a problem
    of the bridge's setup, not a verdict on the client."""


def printable(data, limit):
    """Visible ASCII and spaces only, at most limit characters: client and
    server text goes into log lines and SMTP replies."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    text = "".join(c if " " <= c <= "~" else "?" for c in data[:limit])
    return text + ("..." if len(data) > limit else "")


def gs2_header(client_first):
    """The client-first message up to and including its second comma
    (RFC 5802: gs2-cbind-flag "," [authzid] ","), as a log field."""
    first = client_first.find(b",")
    second = client_first.find(b",", first + 1) if first >= 0 else -1
    head = client_first[: second + 1] if second >= 0 else client_first
    return printable(head, 100).replace(" ", "?") or "-"


class LineReader:
    """CRLF lines from a socket, each bounded by LINE_MAX."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def discard_buffered(self):
        # RFC 3207 section 4.2: anything pipelined after STARTTLS was sent
        # in clear text and must not be taken as coming over TLS.
        self.buf.clear()

    def readline(self):
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                if end + 1 > LINE_MAX:
                    raise LineTooLong()
                line = bytes(self.buf[:end])
                del self.buf[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > LINE_MAX:
                raise LineTooLong()
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Hangup()
            self.buf += chunk


# --- PostgreSQL side -------------------------------------------------------

def recv_exactly(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise PgProtocolError("postgres closed the connection")
        data += chunk
    return bytes(data)


def pg_send(sock, kind, body):
    sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)


def pg_read(sock):
    """The next message other than a NoticeResponse, as (type, body); an
    ErrorResponse raises PgFailure."""
    while True:
        kind = recv_exactly(sock, 1)
        (length,) = struct.unpack("!I", recv_exactly(sock, 4))
        if length < 4 or length > PG_MESSAGE_MAX:
            raise PgProtocolError("postgres sent a message of length %d" % length)
        body = recv_exactly(sock, length - 4)
        if kind == b"E":
            raise PgFailure(parse_error_fields(body))
        if kind != b"N":
            return kind, body


def parse_error_fields(body):
    """ErrorResponse: (one-byte code, C string)* then a zero byte."""
    fields = {}
    for part in body.split(b"\0"):
        if not part:
            break
        fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def pg_auth_request(sock, expected):
    """Reads an AuthenticationRequest ('R') with code `expected`; returns
    the data after the code."""
    kind, body = pg_read(sock)
    if kind != b"R" or len(body) < 4:
        raise PgProtocolError("expected an authentication request, got %r" % kind)
    (code,) = struct.unpack("!I", body[:4])
    if code != expected:
        raise PgProtocolError("expected authentication code %d, got %d" % (expected, code))
    return body[4:]


def pg_connect(args):
    """A TLS connection to postgres (SSLRequest, then the handshake,
    verified against the CA for the name localhost), StartupMessage sent
    and AuthenticationSASL read; returns (socket, offered mechanisms)."""
    raw = socket.create_connection((args.pg_host, args.pg_port), timeout=READ_TIMEOUT)
    try:
        raw.sendall(struct.pack("!II", 8, SSL_REQUEST_CODE))
        answer = recv_exactly(raw, 1)
        if answer != b"S":
            raise PgProtocolError("postgres refused SSL (answered %r)" % answer)
        context = ssl.create_default_context(cafile=args.pg_ca)
        sock = context.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise
    try:
        params = b"".join(
            k + b"\0" + v.encode() + b"\0"
            for k, v in ((b"user", args.pg_user), (b"database", args.pg_database))
        ) + b"\0"
        body = struct.pack("!I", PROTOCOL_3_0) + params
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        offered = [m.decode("ascii", "replace")
                   for m in pg_auth_request(sock, AUTH_SASL).split(b"\0") if m]
        return sock, offered
    except BaseException:
        sock.close()
        raise


def pg_close(sock):
    try:
        pg_send(sock, b"X", b"")  # Terminate
    except OSError:
        pass
    sock.close()


# --- SMTP side ---------------------------------------------------------------

class Session:
    def __init__(self, conn, args, tls_context, log):
        self.conn = conn
        self.args = args
        self.tls_context = tls_context
        self.log = log
        self.reader = LineReader(conn)
        self.tls_version = None
        self.authenticated = False
        self.mail = False
        self.rcpt = False
        self.deadline = time.monotonic() + SESSION_SECONDS

    # Client-side socket errors become Hangup, so that an OSError inside
    # the relay always means the postgres side.
    def reply(self, text):
        try:
            self.conn.sendall(text.encode("ascii") + b"\r\n")
        except OSError as e:
            raise Hangup() from e

    def readline(self):
        if time.monotonic() > self.deadline:
            raise Hangup()
        try:
            return self.reader.readline()
        except OSError as e:
            raise Hangup() from e

    def log_auth(self, mech, gs2, result, detail=""):
        line = "AUTH mech=%s tls=%s gs2=%s result=%s%s" % (
            mech, self.tls_version or "none", gs2, result, detail and " " + detail)
        with open(self.log, "a", encoding="ascii") as f:
            f.write(line + "\n")

    def run(self):
        self.reply("220 localhost ESMTP postgres-bridge")
        errors = 0
        while True:
            try:
                line = self.readline()
            except LineTooLong:
                self.reply("500 5.5.6 Line too long")
                return
            verb, _, arg = line.decode("latin-1").partition(" ")
            verb = verb.upper()
            handler = None
            if verb.isascii() and verb.isalpha():
                handler = getattr(self, "cmd_" + verb, None)
            if handler is None:
                self.reply("500 5.5.2 Command unrecognized")
                ok = False
            else:
                ok = handler(arg)
            if ok is None:  # QUIT, or the session cannot go on
                return
            errors += 0 if ok else 1
            if errors >= MAX_ERRORS:
                self.reply("421 4.7.0 Too many errors")
                return

    # Each cmd_ returns True (fine), False (an error reply), None (end).
    def cmd_EHLO(self, _arg):
        self.reply("250-localhost")
        if self.tls_version is None:
            self.reply("250-STARTTLS")
        else:
            self.reply("250-AUTH " + " ".join(MECHANISMS))
        self.reply("250 8BITMIME")
        return True

    def cmd_HELO(self, _arg):
        self.reply("250 localhost")
        return True

    def cmd_STARTTLS(self, arg):
        if self.tls_version is not None:
            self.reply("503 5.5.1 TLS already active")
            return False
        if arg:
            self.reply("501 5.5.4 No parameters allowed")
            return False
        self.reply("220 2.0.0 Ready to start TLS")
        self.reader.discard_buffered()
        try:
            self.conn = self.tls_context.wrap_socket(self.conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print("bridge: TLS handshake failed: %s" % e, file=sys.stderr, flush=True)
            return None
        self.reader = LineReader(self.conn)
        self.tls_version = self.conn.version()
        # RFC 3207 section 4.2: forget what was said before TLS.
        self.authenticated = self.mail = self.rcpt = False
        return True

    def cmd_AUTH(self, arg):
        if self.tls_version is None:
            self.reply("530 5.7.0 Must issue a STARTTLS command first")
            return False
        if self.authenticated:
            self.reply("503 5.5.1 Already authenticated")
            return False
        words = arg.split()
        if not words or len(words) > 2:
            self.reply("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
            return False
        mech = words[0].upper()
        if mech not in MECHANISMS:
            self.reply("504 5.5.4 Unrecognized authentication type")
            return False
        mech_field = printable(mech, 40)
        if len(words) == 2:
            response = words[1]
        else:
            self.reply("334 ")
            response = self.auth_response(mech_field, "-")
            if response is None:
                return False
        client_first = self.decode(response, mech_field, "-")
        if client_first is None:
            return False
        return self.relay(mech, mech_field, client_first)

    def auth_response(self, mech_field, gs2):
        """One client line during AUTH, '*' (RFC 4954: cancel) handled;
        None when the exchange is over."""
        try:
            line = self.readline().decode("latin-1")
        except LineTooLong:
            self.log_auth(mech_field, gs2, "ABORT", "reason=line-too-long")
            self.reply("500 5.5.6 Line too long")
            return None
        except Hangup:
            self.log_auth(mech_field, gs2, "ABORT", "reason=disconnected")
            raise
        if line == "*":
            self.log_auth(mech_field, gs2, "ABORT", "reason=client-cancelled")
            self.reply("501 5.7.0 Authentication cancelled")
            return None
        return line

    def decode(self, text, mech_field, gs2):
        if text == "=":  # RFC 4954: an empty initial response
            return b""
        try:
            return base64.b64decode(text.encode("latin-1"), validate=True)
        except (binascii.Error, ValueError):
            self.log_auth(mech_field, gs2, "ABORT", "reason=bad-base64")
            self.reply("501 5.5.2 Cannot decode response")
            return None

    def relay(self, mech, mech_field, client_first):
        """The SCRAM exchange, relayed message by message to postgres."""
        gs2 = gs2_header(client_first)
        try:
            pg, offered = pg_connect(self.args)
        except PgFailure as e:
            return self.auth_failed(mech_field, gs2, e)
        except (PgProtocolError, OSError) as e:
            self.log_auth(mech_field, gs2, "ERROR", "reason=" + printable(str(e), 200))
            self.reply("454 4.7.0 Temporary authentication failure")
            return False
        try:
            return self.exchange(pg, offered, mech, mech_field, gs2, client_first)
        except PgFailure as e:
            return self.auth_failed(mech_field, gs2, e)
        except (PgProtocolError, OSError) as e:
            self.log_auth(mech_field, gs2, "ERROR", "reason=" + printable(str(e), 200))
            self.reply("454 4.7.0 Temporary authentication failure")
            return False
        finally:
            pg_close(pg)

    def exchange(self, pg, offered, mech, mech_field, gs2, client_first):
        if mech not in offered:
            raise PgProtocolError("postgres offers only " + " ".join(offered))
        # SASLInitialResponse: the mechanism the client chose, then the
        # client-first message with its length.
        pg_send(pg, b"p", mech.encode() + b"\0"
                + struct.pack("!i", len(client_first)) + client_first)
        server_first = pg_auth_request(pg, AUTH_SASL_CONTINUE)
        self.reply("334 " + base64.b64encode(server_first).decode())
        answer = self.auth_response(mech_field, gs2)
        if answer is None:
            return False
        client_final = self.decode(answer, mech_field, gs2)
        if client_final is None:
            return False
        pg_send(pg, b"p", client_final)  # SASLResponse
        # Postgres checks the channel binding and the proof here: a
        # failure is an ErrorResponse instead of AuthenticationSASLFinal.
        server_final = pg_auth_request(pg, AUTH_SASL_FINAL)
        self.reply("334 " + base64.b64encode(server_final).decode())
        # The client verifies the server signature and answers with an
        # empty line; '*' means it found the signature wrong.
        answer = self.auth_response(mech_field, gs2)
        if answer is None:
            return False
        if answer:
            self.log_auth(mech_field, gs2, "ABORT", "reason=non-empty-final-response")
            self.reply("501 5.5.2 Expected an empty response")
            return False
        pg_auth_request(pg, AUTH_OK)
        self.authenticated = True
        self.log_auth(mech_field, gs2, "OK")
        self.reply("235 2.7.0 Authentication successful")
        return True

    def auth_failed(self, mech_field, gs2, failure):
        self.log_auth(mech_field, gs2, "FAIL",
                      "sqlstate=%s error=%s" % (failure.sqlstate, failure.message))
        self.reply("535 5.7.8 " + failure.message)
        return False

    def refuse_unless(self, condition, reply):
        """True when `condition` holds; else answers `reply`."""
        if not condition:
            self.reply(reply)
        return condition

    def cmd_MAIL(self, _arg):
        if not self.refuse_unless(self.authenticated, "530 5.7.0 Authentication required"):
            return False
        self.mail, self.rcpt = True, False
        self.reply("250 2.1.0 Ok")
        return True

    def cmd_RCPT(self, _arg):
        if not self.refuse_unless(self.authenticated, "530 5.7.0 Authentication required"):
            return False
        if not self.refuse_unless(self.mail, "503 5.5.1 Need MAIL first"):
            return False
        self.rcpt = True
        self.reply("250 2.1.5 Ok")
        return True

    def cmd_DATA(self, _arg):
        if not self.refuse_unless(self.authenticated, "530 5.7.0 Authentication required"):
            return False
        if not self.refuse_unless(self.rcpt, "503 5.5.1 Need RCPT first"):
            return False
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        while True:
            try:
                if self.readline() == b".":
                    break
            except LineTooLong:
                self.reply("500 5.5.6 Line too long")
                return None
        self.mail = self.rcpt = False
        self.reply("250 2.0.0 Ok: dropped")
        return True

    def cmd_RSET(self, _arg):
        self.mail = self.rcpt = False
        self.reply("250 2.0.0 Ok")
        return True

    def cmd_NOOP(self, _arg):
        self.reply("250 2.0.0 Ok")
        return True

    def cmd_QUIT(self, _arg):
        self.reply("221 2.0.0 Bye")
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True, help="SMTP port on 127.0.0.1")
    p.add_argument("--cert", required=True, help="server certificate (PEM), postgres's")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-ca", required=True, help="CA to verify postgres's certificate")
    p.add_argument("--pg-user", default="alice")
    p.add_argument("--pg-database", default="postgres")
    p.add_argument("--log", required=True, help="file to append one line per AUTH to")
    args = p.parse_args()

    # TLS 1.2 only: on 1.3 our client binds with tls-exporter instead.
    tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
    tls_context.maximum_version = ssl.TLSVersion.TLSv1_2
    tls_context.load_cert_chain(args.cert, args.key)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A restart on the same port (the script swaps certificates) must not
    # wait for TIME_WAIT.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(8)
    print("listening 127.0.0.1:%d" % args.port, flush=True)

    while True:
        conn, _ = listener.accept()
        conn.settimeout(READ_TIMEOUT)
        session = Session(conn, args, tls_context, args.log)
        try:
            session.run()
        except (Hangup, OSError):
            pass  # the client went away (or timed out): next one
        except Exception as e:  # a bug here must not stop the server
            print("bridge: session error: %r" % e, file=sys.stderr, flush=True)
        finally:
            try:
                session.conn.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
