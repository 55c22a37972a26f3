/* harness.c: a small SMTP server whose SASL side is GNU SASL (libgsasl)
 * and whose TLS side is GnuTLS, so that our client's SCRAM-*-PLUS
 * (channel binding) can be checked against code nobody on the team wrote.
 *
 * Build:
 *   gcc -O2 -Wall -Wextra -Werror -o harness harness.c \
 *       $(pkg-config --cflags --libs libgsasl gnutls)
 *
 * See README.md beside this file for the options and the log format.
 * Connections are served one at a time: this is a test fixture, not a
 * mail server.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <gsasl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Longest accepted line, CRLF included (RFC 5321 4.5.3.1.4 says 512 for
 * commands; AUTH continuation lines need more, and 4096 is plenty for
 * SCRAM). Longer lines are discarded and answered with 500. */
#define LINE_MAX_OCTETS 4096
/* A silent peer must not wedge a sequential server for ever. */
#define IO_TIMEOUT_SECONDS 30
#define MAX_MECHS 16

static const char DEFAULT_MECHS[] =
  "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1";

static struct
{
  int port;
  int once;
  const char *cert, *key;
  const char *tls;		/* "1.3", "1.2" or NULL (GnuTLS default) */
  const char *user, *password;
  const char *log;
  char *mechs[MAX_MECHS];
  size_t nmechs;
} opt;

struct conn
{
  int fd;
  gnutls_session_t tls;		/* NULL until STARTTLS succeeded */
  /* Base64 channel-binding data of this connection's TLS session, or NULL
   * when GnuTLS has none of that type (tls-unique does not exist in TLS
   * 1.3; tls-exporter needs TLS 1.3 or TLS 1.2 with extended master
   * secret). Handed to libgsasl by the callback. */
  char *cb_exporter, *cb_unique;
  int ehlo;			/* EHLO/HELO seen since the last TLS change */
  int authed;
  int mail, rcpt;		/* transaction state */
  char buf[2 * LINE_MAX_OCTETS];
  size_t start, end;		/* unread bytes are buf[start..end) */
};

static gnutls_certificate_credentials_t x509_cred;
static gnutls_priority_t priority;

static void
die (const char *fmt, ...)
{
  va_list ap;
  fputs ("harness: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (1);
}

/* Copies at most cap-1 bytes of src (len bytes) into dst, replacing
 * anything but visible ASCII (spaces included) by '?': the log has
 * space-separated fields, one line per attempt, read by scripts, and
 * client data is untrusted. dst may be src. */
static void
sanitize (char *dst, size_t cap, const char *src, size_t len)
{
  size_t i;
  if (len > cap - 1)
    len = cap - 1;
  for (i = 0; i < len; i++)
    {
      unsigned char ch = (unsigned char) src[i];
      dst[i] = (ch > 0x20 && ch < 0x7f) ? (char) ch : '?';
    }
  dst[len] = '\0';
}

/* One line per AUTH attempt, appended and closed at once so that a
 * script reading the file while we run sees whole lines. */
static void
log_auth (struct conn *c, const char *mech, const char *gs2,
	  const char *result, const char *rc, const char *user)
{
  char line[512], safe_user[128];
  const char *ver = "none", *cb = "none";
  int n, fd;

  if (!opt.log)
    return;
  if (c->tls)
    ver = gnutls_protocol_get_name (gnutls_protocol_get_version (c->tls));
  if (c->cb_exporter && c->cb_unique)
    cb = "tls-exporter+tls-unique";
  else if (c->cb_exporter)
    cb = "tls-exporter";
  else if (c->cb_unique)
    cb = "tls-unique";
  if (!user)
    user = "-";
  sanitize (safe_user, sizeof safe_user, user, strlen (user));
  n = snprintf (line, sizeof line,
		"AUTH mech=%s tls=%s cb=%s gs2=%s result=%s%s%s user=%s\n",
		mech, ver ? ver : "?", cb, gs2, result,
		rc ? " rc=" : "", rc ? rc : "", safe_user);
  if (n < 0)
    return;
  if ((size_t) n >= sizeof line)
    {
      /* Truncated: still one whole line. */
      n = sizeof line - 1;
      line[n - 1] = '\n';
    }
  fd = open (opt.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      perror ("harness: log");
      return;
    }
  if (write (fd, line, (size_t) n) != n)
    perror ("harness: log write");
  close (fd);
}

/* ---- I/O on the plain socket or the TLS session ---------------------- */

static int
send_all (struct conn *c, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t r;
      if (c->tls)
	{
	  r = gnutls_record_send (c->tls, data, len);
	  if (r == GNUTLS_E_INTERRUPTED)
	    continue;
	}
      else
	{
	  r = send (c->fd, data, len, MSG_NOSIGNAL);
	  if (r < 0 && errno == EINTR)
	    continue;
	}
      if (r <= 0)
	return -1;
      data += r;
      len -= (size_t) r;
    }
  return 0;
}

static int
reply (struct conn *c, const char *fmt, ...)
{
  char line[LINE_MAX_OCTETS + 3];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line - 2, fmt, ap);
  va_end (ap);
  if (n < 0)
    return -1;
  if ((size_t) n > sizeof line - 3)
    n = sizeof line - 3;
  line[n++] = '\r';
  line[n++] = '\n';
  return send_all (c, line, (size_t) n);
}

/* Reads more bytes into c->buf; >0 on data, 0 on EOF, -1 on error or
 * timeout. */
static ssize_t
fill (struct conn *c)
{
  for (;;)
    {
      ssize_t r;
      size_t room = sizeof c->buf - c->end;
      if (c->tls)
	{
	  r = gnutls_record_recv (c->tls, c->buf + c->end, room);
	  if (r == GNUTLS_E_INTERRUPTED)
	    continue;
	  if (r == GNUTLS_E_PREMATURE_TERMINATION)
	    return 0;
	}
      else
	{
	  r = recv (c->fd, c->buf + c->end, room, 0);
	  if (r < 0 && errno == EINTR)
	    continue;
	}
      if (r < 0)
	return -1;
      c->end += (size_t) r;
      return r;
    }
}

enum
{ LINE_OK, LINE_TOO_LONG, LINE_EOF };

/* Reads one line (LF-terminated, a CR before it dropped) into out, which
 * has room for LINE_MAX_OCTETS bytes. A longer line is consumed and
 * reported as LINE_TOO_LONG, so the dialogue stays in step. */
static int
read_line (struct conn *c, char *out, size_t *outlen)
{
  int too_long = 0;
  for (;;)
    {
      char *nl = memchr (c->buf + c->start, '\n', c->end - c->start);
      if (nl)
	{
	  size_t n = (size_t) (nl - (c->buf + c->start));
	  if (n + 1 > LINE_MAX_OCTETS)
	    too_long = 1;
	  if (!too_long)
	    {
	      size_t len = n;
	      if (len > 0 && c->buf[c->start + len - 1] == '\r')
		len--;
	      memcpy (out, c->buf + c->start, len);
	      out[len] = '\0';
	      *outlen = len;
	    }
	  c->start += n + 1;
	  return too_long ? LINE_TOO_LONG : LINE_OK;
	}
      if (c->end - c->start >= LINE_MAX_OCTETS)
	{
	  /* No end in sight: drop what we have and keep reading to the
	   * next LF. */
	  too_long = 1;
	  c->start = c->end = 0;
	}
      else if (c->start > 0)
	{
	  memmove (c->buf, c->buf + c->start, c->end - c->start);
	  c->end -= c->start;
	  c->start = 0;
	}
      if (fill (c) <= 0)
	return LINE_EOF;
    }
}

/* ---- TLS ------------------------------------------------------------- */

/* Base64 of one GnuTLS channel binding, or NULL when this session has
 * none of that type. */
static char *
channel_binding (gnutls_session_t s, gnutls_channel_binding_t type)
{
  gnutls_datum_t cb = { NULL, 0 };
  char *b64 = NULL;

  if (gnutls_session_channel_binding (s, type, &cb) != GNUTLS_E_SUCCESS)
    return NULL;
  if (gsasl_base64_to ((const char *) cb.data, cb.size, &b64, NULL)
      != GSASL_OK)
    b64 = NULL;
  gnutls_free (cb.data);
  return b64;
}

static int
start_tls (struct conn *c)
{
  gnutls_session_t s;
  int rc;

  if (gnutls_init (&s, GNUTLS_SERVER) != GNUTLS_E_SUCCESS)
    return -1;
  if (gnutls_priority_set (s, priority) != GNUTLS_E_SUCCESS
      || gnutls_credentials_set (s, GNUTLS_CRD_CERTIFICATE, x509_cred)
      != GNUTLS_E_SUCCESS)
    {
      gnutls_deinit (s);
      return -1;
    }
  gnutls_certificate_server_set_request (s, GNUTLS_CERT_IGNORE);
  gnutls_transport_set_int (s, c->fd);
  gnutls_handshake_set_timeout (s, IO_TIMEOUT_SECONDS * 1000);
  do
    rc = gnutls_handshake (s);
  /* GNUTLS_E_AGAIN is the socket timeout here: give up on it. */
  while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal (rc));
  if (rc < 0)
    {
      fprintf (stderr, "harness: TLS handshake: %s\n", gnutls_strerror (rc));
      gnutls_deinit (s);
      return -1;
    }
  c->tls = s;
  /* Fetch both types whenever GnuTLS has them, whatever we advertise:
   * libgsasl's non-PLUS SCRAM server refuses a client's "y" flag only
   * when it can see channel-binding data (downgrade detection). */
  c->cb_exporter = channel_binding (s, GNUTLS_CB_TLS_EXPORTER);
  c->cb_unique = channel_binding (s, GNUTLS_CB_TLS_UNIQUE);
  return 0;
}

/* ---- SASL ------------------------------------------------------------ */

static int
callback (Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
  struct conn *c = gsasl_session_hook_get (sctx);
  (void) ctx;

  switch (prop)
    {
    case GSASL_PASSWORD:
      {
	const char *authid = gsasl_property_fast (sctx, GSASL_AUTHID);
	if (authid && strcmp (authid, opt.user) == 0)
	  return gsasl_property_set (sctx, GSASL_PASSWORD, opt.password);
	return GSASL_NO_CALLBACK;
      }
    case GSASL_CB_TLS_EXPORTER:
      if (c && c->cb_exporter)
	return gsasl_property_set (sctx, prop, c->cb_exporter);
      return GSASL_NO_CALLBACK;
    case GSASL_CB_TLS_UNIQUE:
      if (c && c->cb_unique)
	return gsasl_property_set (sctx, prop, c->cb_unique);
      return GSASL_NO_CALLBACK;
    default:
      /* Iteration count, salt, stored keys: libgsasl's defaults. */
      return GSASL_NO_CALLBACK;
    }
}

static int
advertised (const char *mech)
{
  size_t i;
  for (i = 0; i < opt.nmechs; i++)
    if (strcasecmp (opt.mechs[i], mech) == 0)
      return 1;
  return 0;
}

/* Records the GS2 header of a SCRAM client-first message: everything up
 * to and including its second comma ("p=tls-exporter,,", "y,,", "n,,",
 * with any a=authzid between the commas). */
static void
record_gs2 (char *gs2, size_t cap, const char *in, size_t inlen)
{
  const char *comma = memchr (in, ',', inlen);
  size_t n = inlen;

  if (comma)
    comma = memchr (comma + 1, ',', inlen - (size_t) (comma + 1 - in));
  if (comma)
    n = (size_t) (comma + 1 - in);
  sanitize (gs2, cap, in, n);
}

/* AUTH mech [initial-response] (RFC 4954). Returns -1 when the
 * connection is lost, 0 otherwise. */
static int
do_auth (Gsasl *ctx, struct conn *c, char *args)
{
  char mech[64], gs2[80] = "-", line[LINE_MAX_OCTETS];
  char *ir, *in = NULL, *out = NULL, *b64 = NULL;
  size_t inlen = 0, outlen = 0, linelen, i;
  Gsasl_session *s = NULL;
  const char *input;
  int rc, lrc, ret = 0, scram;
  const char *fail = NULL;

  ir = strchr (args, ' ');
  if (ir)
    *ir++ = '\0';
  if (strlen (args) == 0 || strlen (args) >= sizeof mech)
    return reply (c, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
  for (i = 0; args[i]; i++)
    mech[i] = (char) toupper ((unsigned char) args[i]);
  mech[i] = '\0';
  sanitize (mech, sizeof mech, mech, strlen (mech));
  scram = strncmp (mech, "SCRAM-", 6) == 0;

  if (!c->tls)
    {
      log_auth (c, mech, gs2, "FAIL", "no-tls", NULL);
      return reply (c, "530 5.7.0 Must issue a STARTTLS command first");
    }
  if (!c->ehlo)
    return reply (c, "503 5.5.1 Send EHLO first");
  if (c->authed)
    return reply (c, "503 5.5.1 Already authenticated");
  if (!advertised (mech))
    {
      log_auth (c, mech, gs2, "FAIL", "unadvertised-mechanism", NULL);
      return reply (c, "504 5.5.4 Unrecognized authentication type");
    }
  rc = gsasl_server_start (ctx, mech, &s);
  if (rc != GSASL_OK)
    {
      log_auth (c, mech, gs2, "FAIL", gsasl_strerror_name (rc), NULL);
      return reply (c, "454 4.7.0 Temporary authentication failure");
    }
  gsasl_session_hook_set (s, c);

  /* "=" is an empty initial response. Without an argument the client
   * waits for a challenge, which a first gsasl_step without input gives
   * (empty, for SCRAM). */
  input = ir;
  if (ir && strcmp (ir, "=") == 0)
    input = "";

  for (;;)
    {
      if (input)
	{
	  if (gsasl_base64_from (input, strlen (input), &in, &inlen)
	      != GSASL_OK)
	    {
	      fail = "bad-base64";
	      ret = reply (c, "501 5.5.2 Cannot decode response");
	      break;
	    }
	  if (scram && strcmp (gs2, "-") == 0 && inlen > 0)
	    record_gs2 (gs2, sizeof gs2, in, inlen);
	}
      rc = gsasl_step (s, in, inlen, &out, &outlen);
      gsasl_free (in);
      in = NULL;
      inlen = 0;
      if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE)
	{
	  fail = gsasl_strerror_name (rc);
	  ret = reply (c, "535 5.7.8 Authentication credentials invalid");
	  break;
	}
      if (rc == GSASL_OK && outlen == 0)
	break;
      /* A challenge, or (GSASL_OK with data) SCRAM's server-final
       * message, which SMTP carries in a 334 that the client answers with
       * an empty line (RFC 4954 section 4). */
      if (gsasl_base64_to (out, outlen, &b64, NULL) != GSASL_OK)
	{
	  fail = "base64-encode";
	  ret = reply (c, "454 4.7.0 Temporary authentication failure");
	  break;
	}
      gsasl_free (out);
      out = NULL;
      if (reply (c, "334 %s", b64) < 0)
	{
	  fail = "disconnected";
	  ret = -1;
	  break;
	}
      gsasl_free (b64);
      b64 = NULL;
      lrc = read_line (c, line, &linelen);
      if (lrc == LINE_EOF)
	{
	  fail = "disconnected";
	  ret = -1;
	  break;
	}
      if (lrc == LINE_TOO_LONG)
	{
	  fail = "line-too-long";
	  ret = reply (c, "500 5.5.6 Authentication exchange line is too long");
	  break;
	}
      if (strcmp (line, "*") == 0)
	{
	  fail = "aborted";
	  ret = reply (c, "501 5.7.0 Authentication aborted");
	  break;
	}
      if (rc == GSASL_OK)
	{
	  /* That was the server-final message: the client, having
	   * verified it, owes an empty line and nothing else. */
	  if (linelen != 0)
	    {
	      fail = "non-empty-final-response";
	      ret = reply (c, "535 5.7.8 Authentication credentials invalid");
	    }
	  break;
	}
      input = line;
    }

  gsasl_free (out);
  gsasl_free (b64);
  gsasl_free (in);
  if (!fail)
    {
      const char *user = gsasl_property_fast (s, GSASL_AUTHID);
      const char *authzid = gsasl_property_fast (s, GSASL_AUTHZID);
      /* SCRAM checks the proof, not who may act for whom: only the
       * account itself is a permitted authorization identity. */
      if (authzid && *authzid && (!user || strcmp (authzid, user) != 0))
	{
	  log_auth (c, mech, gs2, "FAIL", "authzid-not-permitted", user);
	  ret = reply (c, "535 5.7.8 Authentication credentials invalid");
	}
      else
	{
	  c->authed = 1;
	  log_auth (c, mech, gs2, "OK", NULL, user);
	  ret = reply (c, "235 2.7.0 Authentication successful");
	}
    }
  else
    log_auth (c, mech, gs2, "FAIL", fail,
	      gsasl_property_fast (s, GSASL_AUTHID));
  gsasl_finish (s);
  return ret;
}

/* ---- SMTP ------------------------------------------------------------ */

static int
do_ehlo (struct conn *c, int extended)
{
  char auth[LINE_MAX_OCTETS] = "AUTH";
  size_t i;

  c->ehlo = 1;
  c->mail = c->rcpt = 0;
  if (!extended)
    return reply (c, "250 harness");
  for (i = 0; i < opt.nmechs; i++)
    {
      strncat (auth, " ", sizeof auth - strlen (auth) - 1);
      strncat (auth, opt.mechs[i], sizeof auth - strlen (auth) - 1);
    }
  /* STARTTLS / AUTH come before the last line on purpose: the gsasl
   * command-line client only notices "250-STARTTLS" (a continuation
   * line), and reads "250-AUTH " or "250 AUTH ". */
  if (reply (c, "250-harness") < 0)
    return -1;
  /* AUTH only under TLS: channel binding needs it, and it keeps the
   * password off the wire. */
  if ((c->tls ? reply (c, "250-%s", auth) : reply (c, "250-STARTTLS")) < 0)
    return -1;
  if (reply (c, "250-8BITMIME") < 0)
    return -1;
  return reply (c, "250 ENHANCEDSTATUSCODES");
}

/* Reads the message after DATA's 354 up to the lone ".", discarding it. */
static int
do_data (struct conn *c)
{
  char line[LINE_MAX_OCTETS];
  size_t len;

  if (reply (c, "354 End data with <CR><LF>.<CR><LF>") < 0)
    return -1;
  for (;;)
    {
      int rc = read_line (c, line, &len);
      if (rc == LINE_EOF)
	return -1;
      if (rc == LINE_OK && strcmp (line, ".") == 0)
	break;
    }
  c->mail = c->rcpt = 0;
  return reply (c, "250 2.0.0 queued");
}

static int
verb_is (const char *line, const char *verb)
{
  size_t n = strlen (verb);
  return strncasecmp (line, verb, n) == 0
    && (line[n] == '\0' || line[n] == ' ');
}

static void
serve (Gsasl *ctx, int fd)
{
  struct conn *c = calloc (1, sizeof *c);
  char line[LINE_MAX_OCTETS];
  size_t len;

  if (!c)
    {
      close (fd);
      return;
    }
  c->fd = fd;
  if (reply (c, "220 harness ESMTP") < 0)
    goto done;

  for (;;)
    {
      int rc = read_line (c, line, &len), r;
      char *args;

      if (rc == LINE_EOF)
	break;
      if (rc == LINE_TOO_LONG)
	{
	  if (reply (c, "500 5.5.2 Line too long") < 0)
	    break;
	  continue;
	}
      args = strchr (line, ' ');
      args = args ? args + 1 : line + len;

      if (verb_is (line, "EHLO"))
	r = do_ehlo (c, 1);
      else if (verb_is (line, "HELO"))
	r = do_ehlo (c, 0);
      else if (verb_is (line, "STARTTLS"))
	{
	  if (c->tls)
	    r = reply (c, "503 5.5.1 TLS already active");
	  else if (*args)
	    r = reply (c, "501 5.5.4 Syntax: STARTTLS");
	  else
	    {
	      if (reply (c, "220 2.0.0 go ahead") < 0)
		break;
	      /* Plaintext the client pipelined after STARTTLS must not
	       * reach the TLS dialogue (CVE-2011-0411 style injection). */
	      c->start = c->end = 0;
	      if (start_tls (c) < 0)
		break;
	      /* RFC 3207: forget everything learnt before TLS. */
	      c->ehlo = c->authed = c->mail = c->rcpt = 0;
	      r = 0;
	    }
	}
      else if (verb_is (line, "AUTH"))
	r = do_auth (ctx, c, args);
      else if (verb_is (line, "MAIL"))
	{
	  if (!c->authed)
	    r = reply (c, "530 5.7.0 Authentication required");
	  else if (c->mail)
	    r = reply (c, "503 5.5.1 Nested MAIL command");
	  else
	    {
	      c->mail = 1;
	      r = reply (c, "250 2.1.0 Ok");
	    }
	}
      else if (verb_is (line, "RCPT"))
	{
	  if (!c->mail)
	    r = reply (c, "503 5.5.1 Need MAIL command");
	  else
	    {
	      c->rcpt = 1;
	      r = reply (c, "250 2.1.5 Ok");
	    }
	}
      else if (verb_is (line, "DATA"))
	{
	  if (!c->rcpt)
	    r = reply (c, "503 5.5.1 Need RCPT command");
	  else
	    r = do_data (c);
	}
      else if (verb_is (line, "RSET"))
	{
	  c->mail = c->rcpt = 0;
	  r = reply (c, "250 2.0.0 Ok");
	}
      else if (verb_is (line, "NOOP"))
	r = reply (c, "250 2.0.0 Ok");
      else if (verb_is (line, "QUIT"))
	{
	  reply (c, "221 2.0.0 Bye");
	  break;
	}
      else
	r = reply (c, "500 5.5.2 Command unrecognized");
      if (r < 0)
	break;
    }

done:
  if (c->tls)
    {
      gnutls_bye (c->tls, GNUTLS_SHUT_WR);
      gnutls_deinit (c->tls);
    }
  gsasl_free (c->cb_exporter);
  gsasl_free (c->cb_unique);
  close (fd);
  free (c);
}

/* ---- setup ----------------------------------------------------------- */

static void
usage (void)
{
  fprintf (stderr,
	   "usage: harness --port N --cert FILE --key FILE --user NAME "
	   "--password PW\n"
	   "               [--tls 1.3|1.2] [--mechs LIST] [--log FILE] "
	   "[--once]\n");
  exit (64);
}

static void
parse_mechs (Gsasl *ctx, const char *list)
{
  char *copy = strdup (list), *tok, *save = NULL;

  if (!copy)
    die ("out of memory");
  for (tok = strtok_r (copy, " ,", &save); tok;
       tok = strtok_r (NULL, " ,", &save))
    {
      char *p;
      if (opt.nmechs == MAX_MECHS)
	die ("more than %d mechanisms", MAX_MECHS);
      for (p = tok; *p; p++)
	*p = (char) toupper ((unsigned char) *p);
      if (!gsasl_server_support_p (ctx, tok))
	die ("libgsasl has no server side for %s", tok);
      opt.mechs[opt.nmechs] = strdup (tok);
      if (!opt.mechs[opt.nmechs])
	die ("out of memory");
      opt.nmechs++;
    }
  free (copy);
  if (opt.nmechs == 0)
    die ("--mechs lists no mechanism");
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"port", required_argument, NULL, 'P'},
    {"cert", required_argument, NULL, 'c'},
    {"key", required_argument, NULL, 'k'},
    {"tls", required_argument, NULL, 't'},
    {"user", required_argument, NULL, 'u'},
    {"password", required_argument, NULL, 'p'},
    {"mechs", required_argument, NULL, 'm'},
    {"log", required_argument, NULL, 'l'},
    {"once", no_argument, NULL, 'o'},
    {NULL, 0, NULL, 0}
  };
  const char *mechs = DEFAULT_MECHS, *prio = "NORMAL", *err_pos = NULL;
  struct sockaddr_in addr;
  Gsasl *ctx;
  int ch, lfd, one = 1, rc;
  size_t i;

  while ((ch = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (ch)
      {
      case 'P':
	opt.port = atoi (optarg);
	break;
      case 'c':
	opt.cert = optarg;
	break;
      case 'k':
	opt.key = optarg;
	break;
      case 't':
	opt.tls = optarg;
	break;
      case 'u':
	opt.user = optarg;
	break;
      case 'p':
	opt.password = optarg;
	break;
      case 'm':
	mechs = optarg;
	break;
      case 'l':
	opt.log = optarg;
	break;
      case 'o':
	opt.once = 1;
	break;
      default:
	usage ();
      }
  if (optind != argc || opt.port <= 0 || opt.port > 65535 || !opt.cert
      || !opt.key || !opt.user || !opt.password)
    usage ();
  if (opt.tls && strcmp (opt.tls, "1.3") == 0)
    prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
  else if (opt.tls && strcmp (opt.tls, "1.2") == 0)
    prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
  else if (opt.tls)
    usage ();

  /* A client hanging up while we write must not kill the server. */
  signal (SIGPIPE, SIG_IGN);

  if ((rc = gsasl_init (&ctx)) != GSASL_OK)
    die ("gsasl_init: %s", gsasl_strerror (rc));
  gsasl_callback_set (ctx, callback);
  parse_mechs (ctx, mechs);

  if ((rc = gnutls_global_init ()) != GNUTLS_E_SUCCESS)
    die ("gnutls_global_init: %s", gnutls_strerror (rc));
  if ((rc = gnutls_certificate_allocate_credentials (&x509_cred))
      != GNUTLS_E_SUCCESS)
    die ("gnutls credentials: %s", gnutls_strerror (rc));
  if ((rc = gnutls_certificate_set_x509_key_file (x509_cred, opt.cert,
						  opt.key,
						  GNUTLS_X509_FMT_PEM)) < 0)
    die ("%s / %s: %s", opt.cert, opt.key, gnutls_strerror (rc));
  if ((rc = gnutls_priority_init (&priority, prio, &err_pos))
      != GNUTLS_E_SUCCESS)
    die ("priority %s: %s", prio, gnutls_strerror (rc));

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    die ("socket: %s", strerror (errno));
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset (&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons ((unsigned short) opt.port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (lfd, (struct sockaddr *) &addr, sizeof addr) < 0)
    die ("bind 127.0.0.1:%d: %s", opt.port, strerror (errno));
  if (listen (lfd, 8) < 0)
    die ("listen: %s", strerror (errno));
  /* Scripts wait for this line before connecting. */
  printf ("listening 127.0.0.1:%d tls=%s\n", opt.port, prio);
  fflush (stdout);

  for (;;)
    {
      struct timeval tv = { IO_TIMEOUT_SECONDS, 0 };
      int fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
	{
	  if (errno == EINTR || errno == ECONNABORTED)
	    continue;
	  die ("accept: %s", strerror (errno));
	}
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      serve (ctx, fd);
      if (opt.once)
	break;
    }

  close (lfd);
  for (i = 0; i < opt.nmechs; i++)
    free (opt.mechs[i]);
  gnutls_priority_deinit (priority);
  gnutls_certificate_free_credentials (x509_cred);
  gnutls_global_deinit ();
  gsasl_done (ctx);
  return 0;
}
