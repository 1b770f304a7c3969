/*
 * dsn.c — builds one delivery status notification (see dsn.h): the
 * notification's header, the human-readable part, the machine-readable
 * delivery-status part, and the original message or its header section.
 *
 * Trust: the envelope's addresses were validated by envelope_decode() but
 * are checked again before they reach a header; diagnostics, remote MTA
 * names, ENVID and ORCPT come from peers and are sanitised to printable
 * ASCII; the original message is copied as opaque octets, its header
 * section through a filter that keeps lines short and removes NULs.
 * The original is the message file's first msgsize octets (the envelope's
 * size); whatever the queue keeps after them is never read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bounce/dsn.h"
#include "bounce/text.h"
#include "common/addr.h"
#include "common/agent.h"
#include "common/log.h"

#define WRAP_WIDTH	76
#define FOLD_WIDTH	78
#define HARD_WIDTH	990	/* break point for unbreakable runs */
#define HDR_MIN_CAP	16384	/* header section always returned up to */
#define DIAG_MAX	900	/* sanitised diagnostic text */
#define COPY_CHUNK	16384

/* A mailbox as RFC 5321 has it (the envelope layer parsed it already;
 * this is the check that keeps the notice's header lines well formed).
 * A quoted local part may hold '<', '>' or ',': inside its quotes it is
 * still one address to any RFC 5322 reader. */
static bool
addr_safe(const char *s)
{
	struct addr a;
	const char *why;

	return addr_parse_mailbox(s, strlen(s),
	    ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a, &why) == 0;
}

bool
dsn_sender_is_null(const char *sender)
{
	static const char md[] = "mailer-daemon";
	size_t n = sizeof(md) - 1;

	if (sender == NULL || sender[0] == '\0')
		return true;
	return strncasecmp(sender, md, n) == 0 &&
	    (sender[n] == '@' || sender[n] == '\0');
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
dsn_input_init(struct dsn_input *in, enum dsn_kind kind,
    const struct envelope *env, int msgfd, uint64_t msgsize,
    const char *hostname, const char *to)
{
	unsigned char r[16];
	char h[33];
	int n;

	memset(in, 0, sizeof(*in));
	in->kind = kind;
	in->env = env;
	in->msgfd = msgfd;
	in->msgsize = msgsize;
	in->hostname = hostname;
	in->to = to;
	in->now = (int64_t)time(NULL);
	in->queue_lifetime = 5 * 86400;
	in->max_original = 100 * 1024;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	hex(r, 8, h);
	n = snprintf(in->boundary, sizeof(in->boundary), "posthorn-dsn-%s", h);
	if (n < 0 || (size_t)n >= sizeof(in->boundary))
		return -1;
	hex(r + 8, 8, h);
	n = snprintf(in->msgid, sizeof(in->msgid), "<%lld.%s.dsn@%s>",
	    (long long)in->now, h, hostname);
	if (n < 0 || (size_t)n >= sizeof(in->msgid))
		return -1;
	return 0;
}

int
dsn_date(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL)
		return -1;
	if (strftime(out, outsz, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	return 0;
}

static bool
digits(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > 3)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "c.sss.ddd" with c in 2, 4, 5. */
static bool
dsn_code_valid(const char *s)
{
	const char *d1, *d2;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	d1 = strchr(s + 2, '.');
	if (d1 == NULL || !digits(s + 2, (size_t)(d1 - (s + 2))))
		return false;
	d2 = d1 + 1;
	return digits(d2, strlen(d2));
}

void
dsn_status(enum dsn_kind kind, const char *dsn, char out[16])
{
	char cls = kind == DSN_FAILED ? '5' : kind == DSN_DELAYED ? '4' : '2';

	if (dsn_code_valid(dsn) && strlen(dsn) < 16) {
		memcpy(out, dsn, strlen(dsn) + 1);
		out[0] = cls;
		return;
	}
	out[0] = cls;
	memcpy(out + 1, ".0.0", 5);
}

/* Append the words of text (split at spaces and tabs) to out, whose
 * current line is col octets long, breaking lines before width where a
 * word boundary allows; a new line starts with indent.  In header mode
 * every word is preceded by one space (so a continuation line starts with
 * white space, RFC 5322 folding).  Runs longer than HARD_WIDTH are broken
 * so that no line exceeds 998 octets.  Ends with a line end. */
static int
emit_words(struct buf *out, const char *text, size_t col, size_t width,
    const char *indent, bool header)
{
	size_t ilen = strlen(indent);
	bool empty = true;
	const char *p = text;

	for (;;) {
		size_t n;

		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		n = strcspn(p, " \t");
		while (n > 0) {
			size_t take = n < HARD_WIDTH ? n : HARD_WIDTH;
			size_t sep = (header || !empty) ? 1 : 0;

			if (!empty && col + 1 + take > width) {
				if (buf_append_char(out, '\n') == -1 ||
				    buf_append_str(out, indent) == -1)
					return -1;
				col = ilen;
				sep = header ? 1 : 0;
			}
			if (sep && buf_append_char(out, ' ') == -1)
				return -1;
			if (buf_append(out, p, take) == -1)
				return -1;
			col += sep + take;
			empty = false;
			p += take;
			n -= take;
		}
	}
	return buf_append_char(out, '\n');
}

int
dsn_fold(struct buf *out, const char *name, const char *value)
{
	if (buf_append_str(out, name) == -1 || buf_append_char(out, ':') == -1)
		return -1;
	return emit_words(out, value, strlen(name) + 1, FOLD_WIDTH, "", true);
}

int
dsn_wrap(struct buf *out, const char *indent, const char *text, size_t width)
{
	if (buf_append_str(out, indent) == -1)
		return -1;
	return emit_words(out, text, strlen(indent), width, indent, false);
}

/* ---- planning ---------------------------------------------------------- */

static bool
covered(const struct dsn_input *in, size_t i)
{
	return in->cover == NULL || in->cover[i];
}

static uint64_t
header_cap(const struct dsn_input *in)
{
	return in->max_original > HDR_MIN_CAP ? in->max_original : HDR_MIN_CAP;
}

/* Read the original through the scanner; stop after the header section
 * when the body will not be returned. */
static int
scan_original(const struct dsn_input *in, struct dsn_plan *plan,
    bool want_body)
{
	char chunk[COPY_CHUNK];
	uint64_t off = 0;

	msgscan_init(&plan->scan);
	while (off < plan->size) {
		ssize_t r;

		r = agent_msg_read(in->msgfd, plan->size, chunk,
		    sizeof(chunk), off);
		if (r <= 0)
			return -1;
		msgscan_feed(&plan->scan, chunk, (size_t)r);
		off += (uint64_t)r;
		if (!want_body && plan->scan.hdr_done)
			return 0;
	}
	msgscan_end(&plan->scan);
	return 0;
}

static void
plan_charsets(const struct dsn_input *in, struct dsn_plan *plan)
{
	const struct envelope *e = in->env;
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		if (!covered(in, i))
			continue;
		if (str_has_8bit(e->rcpts[i].addr))
			plan->status_8bit = true;
	}
	plan->human_8bit = plan->status_8bit ||
	    (in->double_bounce && e->sender != NULL && str_has_8bit(e->sender));
	plan->global = e->smtputf8 || plan->status_8bit;
	if (plan->orig == DSN_ORIG_FULL)
		plan->orig_8bit = plan->scan.hdr_8bit || plan->scan.body_8bit;
	else
		plan->orig_8bit = plan->scan.hdr_8bit;
	plan->eightbit = plan->human_8bit || plan->status_8bit ||
	    plan->orig_8bit;
	plan->smtputf8 = str_has_8bit(in->to);
}

int
dsn_plan(const struct dsn_input *in, struct dsn_plan *plan, const char **why)
{
	const struct envelope *e = in->env;
	struct stat st;
	bool want_full;
	size_t i;

	memset(plan, 0, sizeof(*plan));
	for (i = 0; i < e->nrcpts; i++) {
		if (!covered(in, i))
			continue;
		if (e->rcpts[i].addr == NULL || !addr_safe(e->rcpts[i].addr)) {
			*why = "recipient address unusable";
			return -2;
		}
		plan->ncover++;
	}
	if (plan->ncover == 0) {
		*why = "no recipient to report";
		return -2;
	}
	if (in->to == NULL || in->to[0] == '\0' || !addr_safe(in->to) ||
	    (e->sender != NULL && e->sender[0] != '\0' &&
	    !addr_safe(e->sender))) {
		*why = "notification address unusable";
		return -2;
	}
	if (fstat(in->msgfd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size < 0 || (uint64_t)st.st_size < in->msgsize) {
		*why = "original message unreadable";
		return -1;
	}
	plan->size = in->msgsize;
	want_full = in->kind == DSN_FAILED && e->ret != RET_HDRS &&
	    plan->size <= in->max_original;
	if (scan_original(in, plan, want_full) == -1) {
		*why = "original message unreadable";
		return -1;
	}
	plan->orig = DSN_ORIG_HEADERS;
	if (in->kind != DSN_FAILED)
		plan->why_headers = NULL;
	else if (e->ret == RET_HDRS)
		plan->why_headers = "you asked for headers only (RET=HDRS)";
	else if (!want_full)
		plan->why_headers = "the message is larger than the limit for "
		    "returned messages";
	else if (plan->scan.body_nul || plan->scan.body_long)
		plan->why_headers = "the message body cannot be returned "
		    "unchanged (it has NUL octets or lines longer than 998 "
		    "octets)";
	else
		plan->orig = DSN_ORIG_FULL;
	plan->headers_cut = plan->orig == DSN_ORIG_HEADERS &&
	    plan->scan.hdr_len > header_cap(in);
	plan_charsets(in, plan);
	return 0;
}

/* ---- the notification's header and the human-readable part ------------- */

/* The host that handled the recipient, or NULL for a local delivery
 * (agents report "local" or nothing). */
static const char *
remote_of(const struct rcpt *r)
{
	if (r->remote_mta == NULL || r->remote_mta[0] == '\0' ||
	    strcasecmp(r->remote_mta, "local") == 0)
		return NULL;
	return r->remote_mta;
}

static bool
diag_starts(const struct rcpt *r, const char *mark)
{
	return r->diag != NULL && strncmp(r->diag, mark, strlen(mark)) == 0;
}

/* A success's Action (RFC 3464 2.3.3): "relayed" to a server that does
 * not send success notices, "expanded" by an alias or .forward to more
 * than one place, else "delivered" (here, or by an LMTP server). */
static const char *
success_action(const struct rcpt *r)
{
	if (diag_starts(r, AGENT_TEXT_EXPANDED))
		return "expanded";
	if (remote_of(r) != NULL && !diag_starts(r, AGENT_TEXT_FINAL))
		return "relayed";
	return "delivered";
}

/* An SMTP reply ("550 5.1.1 ...", "421-...") or our own words? */
static bool
smtp_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' &&
	    (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

/* posthorn-remote words a refusal "host H said: 550 5.1.1 text (in reply
 * to RCPT TO)": the peer's reply starts after "said: ".  Returns where
 * the reply starts in the sanitised diagnostic d, or NULL. */
static const char *
peer_reply(const char *d)
{
	const char *p = strstr(d, " said: ");

	if (p != NULL && smtp_reply(p + 7))
		return p + 7;
	return smtp_reply(d) ? d : NULL;
}


static const char *
subject(const struct dsn_input *in)
{
	if (in->double_bounce)
		return "Undelivered Mail Returned to Postmaster";
	switch (in->kind) {
	case DSN_FAILED:
		return "Undelivered Mail Returned to Sender";
	case DSN_DELAYED:
		return "Delayed Mail (still being retried)";
	case DSN_SUCCESS:
		return "Successful Mail Delivery Report";
	}
	return "Delivery Status Notification";
}

/* Sanitised copy of hostile text s in tmp (printable ASCII). */
static const char *
clean(struct buf *tmp, const char *s, size_t max)
{
	buf_reset(tmp);
	if (s != NULL && sanitize_text(tmp, s, strlen(s), max) == -1)
		buf_reset(tmp);
	return buf_str(tmp);
}

static int
put_date(struct buf *b, const char *name, int64_t t)
{
	char d[64];

	if (dsn_date(t, d, sizeof(d)) == -1)
		return 0;	/* a date we cannot print is left out */
	return buf_printf(b, "%s: %s\n", name, d);
}

static int
write_header(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b)
{
	const char *mid = plan->scan.msgid;

	if (buf_printf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: <%s>\nSubject: %s\n", in->hostname, in->to, subject(in)) == -1 ||
	    put_date(b, "Date", in->now) == -1 ||
	    buf_printf(b, "Message-ID: %s\nAuto-Submitted: auto-replied\n",
	    in->msgid) == -1)
		return -1;
	if (mid[0] != '\0' && buf_printf(b, "In-Reply-To: %s\n"
	    "References: %s\n", mid, mid) == -1)
		return -1;
	return buf_printf(b, "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n"
	    "Content-Transfer-Encoding: %s\n\n"
	    "This is a MIME-encapsulated message.\n\n--%s\n",
	    in->boundary, plan->eightbit ? "8bit" : "7bit", in->boundary);
}

static const char *
intro(const struct dsn_input *in, const struct dsn_plan *plan)
{
	bool one = plan->ncover == 1;

	if (in->double_bounce)
		return "A message from a mail system address (shown below) "
		    "could not be delivered. Such messages are usually "
		    "delivery notifications themselves, and notifications "
		    "are never sent back to a mail system address, so this "
		    "copy goes to you, the postmaster, instead. The message "
		    "will not be retried; if this notice cannot be delivered "
		    "either, it is dropped.";
	switch (in->kind) {
	case DSN_FAILED:
		return one ? "Your message could not be delivered to the "
		    "recipient below. The error is permanent: the message "
		    "will not be retried." :
		    "Your message could not be delivered to the recipients "
		    "below. The errors are permanent: the message will not be "
		    "retried for them.";
	case DSN_DELAYED:
		return one ? "Your message has not been delivered yet to the "
		    "recipient below. The mail system is still trying; you do "
		    "not need to send it again." :
		    "Your message has not been delivered yet to the recipients "
		    "below. The mail system is still trying; you do not need "
		    "to send it again.";
	case DSN_SUCCESS:
		return one ? "Your message was delivered to the recipient "
		    "below, as you asked." :
		    "Your message was delivered to the recipients below, as "
		    "you asked.";
	}
	return "";
}

static int
human_head(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b, struct buf *t)
{
	const struct envelope *e = in->env;

	if (buf_printf(b, "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=%s\n"
	    "Content-Transfer-Encoding: %s\n\n"
	    "This is the mail delivery system at %s.\n\n",
	    plan->human_8bit ? "utf-8" : "us-ascii",
	    plan->human_8bit ? "8bit" : "7bit", in->hostname) == -1 ||
	    dsn_wrap(b, "", intro(in, plan), WRAP_WIDTH) == -1)
		return -1;
	if (in->double_bounce && buf_printf(b, "\nSender: <%s>\n",
	    e->sender != NULL ? e->sender : "") == -1)
		return -1;
	if (e->qid != NULL && buf_printf(b, "\nQueue id: %s\n",
	    clean(t, e->qid, 64)) == -1)
		return -1;
	if (e->arrival > 0 && put_date(b, "Arrived", e->arrival) == -1)
		return -1;
	if (in->kind == DSN_DELAYED && e->arrival > 0 &&
	    in->queue_lifetime < (uint64_t)INT64_MAX - (uint64_t)e->arrival) {
		char d[64], line[160];

		if (dsn_date(e->arrival + (int64_t)in->queue_lifetime, d,
		    sizeof(d)) == 0) {
			snprintf(line, sizeof(line), "It will keep trying "
			    "until %s. If the message still cannot be "
			    "delivered by then, you will be told.", d);
			if (buf_append_char(b, '\n') == -1 ||
			    dsn_wrap(b, "", line, WRAP_WIDTH) == -1)
				return -1;
		}
	}
	return buf_append_char(b, '\n');
}

static const char *
verb(const struct dsn_input *in, const struct rcpt *r)
{
	switch (in->kind) {
	case DSN_FAILED:
		return "could not be delivered";
	case DSN_DELAYED:
		return "not delivered yet";
	case DSN_SUCCESS:
		return success_action(r);
	}
	return "";
}

static int
human_rcpt(const struct dsn_input *in, const struct rcpt *r, struct buf *b,
    struct buf *t)
{
	char st[16], date[64];
	struct buf line = BUF_INIT, d = BUF_INIT;
	const char *diag, *reply;
	int rc = -1;

	dsn_status(in->kind, r->dsn, st);
	if (buf_printf(&line, "<%s>: %s (%s, %s)", r->addr, verb(in, r), st,
	    dsn_status_text(st)) == -1 ||
	    dsn_wrap(b, "", buf_str(&line), WRAP_WIDTH) == -1)
		goto out;
	buf_reset(&line);
	diag = r->diag != NULL && r->diag[0] != '\0' ?
	    clean(&d, r->diag, DIAG_MAX) : NULL;
	reply = diag != NULL ? peer_reply(diag) : NULL;
	if (in->kind == DSN_SUCCESS &&
	    strcmp(success_action(r), "relayed") == 0) {
		if (buf_printf(&line, "It was handed to %s, which does not "
		    "send delivery notifications itself.",
		    clean(t, remote_of(r), 300)) == -1)
			goto out;
		diag = NULL;
	} else if (remote_of(r) != NULL && reply != NULL) {
		if (buf_printf(&line, "The server %s said:",
		    clean(t, remote_of(r), 300)) == -1)
			goto out;
		diag = reply;
	} else if (diag != NULL) {
		if (buf_append_str(&line, "The mail system said:") == -1)
			goto out;
	}
	if (line.len > 0 && dsn_wrap(b, "    ", buf_str(&line), WRAP_WIDTH) == -1)
		goto out;
	if (diag != NULL && in->kind != DSN_SUCCESS &&
	    dsn_wrap(b, "        ", diag, WRAP_WIDTH) == -1)
		goto out;
	if (in->kind == DSN_DELAYED && r->last_attempt > 0 &&
	    dsn_date(r->last_attempt, date, sizeof(date)) == 0 &&
	    buf_printf(b, "    Last attempt: %s\n", date) == -1)
		goto out;
	if (in->kind == DSN_FAILED && !in->double_bounce) {
		buf_reset(&line);
		if (buf_printf(&line, "What you can do: %s",
		    dsn_advice(st)) == -1 ||
		    dsn_wrap(b, "    ", buf_str(&line), WRAP_WIDTH) == -1)
			goto out;
	}
	rc = buf_append_char(b, '\n');
out:
	buf_free(&line);
	buf_free(&d);
	return rc;
}

static int
human_tail(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b)
{
	struct buf line = BUF_INIT;
	int rc;

	if (plan->orig == DSN_ORIG_FULL)
		rc = buf_append_str(&line, "The original message is attached.");
	else if (plan->why_headers != NULL)
		rc = buf_printf(&line, "Only the headers of the original "
		    "message are attached: %s.", plan->why_headers);
	else
		rc = buf_append_str(&line, "The headers of the original "
		    "message are attached.");
	if (rc == 0 && plan->headers_cut)
		rc = buf_append_str(&line, " They were too long and have been "
		    "cut short.");
	if (rc == 0 && in->kind == DSN_FAILED && !in->double_bounce)
		rc = buf_printf(&line, " If you need help, please forward "
		    "this notice to your postmaster.");
	if (rc == 0)
		rc = dsn_wrap(b, "", buf_str(&line), WRAP_WIDTH);
	buf_free(&line);
	return rc;
}

static int
write_human(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b, struct buf *t)
{
	size_t i;

	if (human_head(in, plan, b, t) == -1)
		return -1;
	for (i = 0; i < in->env->nrcpts; i++)
		if (covered(in, i) &&
		    human_rcpt(in, &in->env->rcpts[i], b, t) == -1)
			return -1;
	if (human_tail(in, plan, b) == -1)
		return -1;
	return buf_printf(b, "\n--%s\n", in->boundary);
}

/* ---- the delivery-status part ------------------------------------------ */

static const char *
action(const struct dsn_input *in, const struct rcpt *r)
{
	switch (in->kind) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_SUCCESS:
		return success_action(r);
	}
	return "failed";
}

/* "mx.example.org[192.0.2.1]:25" -> "mx.example.org"; without a name,
 * "[192.0.2.1]:25" -> "[192.0.2.1]".  Only host name and address
 * characters survive.  A unix socket's path (LMTP: posthorn-remote
 * reports "/run/dovecot/lmtp") names no host: "" (no Remote-MTA field,
 * which RFC 3464 2.3.5 makes optional, and "dns" is the only MTA-name-
 * type for Internet mail); a '/' is in no host name or address. */
static void
mta_name(const char *s, char *out, size_t outsz)
{
	size_t n = strcspn(s, "[");
	size_t i, o = 0;

	if (n == 0) {
		n = strcspn(s, "]");
		n += s[n] == ']' ? 1 : 0;
	}
	if (memchr(s, '/', n) != NULL)
		n = 0;
	for (i = 0; i < n && o + 1 < outsz; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == ':' || c == '[' || c == ']')
			out[o++] = c;
	}
	out[o] = '\0';
}

/* "smtp; 550 5.1.1 text" when the diagnostic holds a peer's reply
 * (without posthorn-remote's "(in reply to ...)" note), else
 * "x-posthorn; our words". */
static int
diagnostic_code(struct buf *v, const char *d)
{
	const char *reply = peer_reply(d), *note;
	size_t n;

	if (reply == NULL)
		return buf_printf(v, "x-posthorn; %s", d);
	n = strlen(reply);
	note = strstr(reply, " (in reply to ");
	if (note != NULL && reply[n - 1] == ')')
		n = (size_t)(note - reply);
	return buf_printf(v, "smtp; %.*s", (int)n, reply);
}

/* ORCPT as given ("rfc822;a+2Bb@c", xtext) -> "rfc822; a+b@c". */
static int
put_orcpt(struct buf *b, const char *orcpt, struct buf *t)
{
	const char *semi = strchr(orcpt, ';');
	struct buf dec = BUF_INIT, val = BUF_INIT;
	size_t tlen, i;
	int rc = 0;

	if (semi == NULL)
		return 0;
	tlen = (size_t)(semi - orcpt);
	if (tlen == 0 || tlen > 32)
		return 0;
	for (i = 0; i < tlen; i++) {
		char c = orcpt[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	semi++;
	if (strncasecmp(orcpt, "rfc822", tlen) == 0 && tlen == 6 &&
	    xtext_decode(semi, strlen(semi), &dec) == 0)
		semi = buf_str(&dec);
	if (buf_append(&val, orcpt, tlen) == -1 ||
	    buf_append_str(&val, "; ") == -1 ||
	    buf_append_str(&val, clean(t, semi, 600)) == -1 ||
	    dsn_fold(b, "Original-Recipient", buf_str(&val)) == -1)
		rc = -1;
	buf_free(&dec);
	buf_free(&val);
	return rc;
}

static int
status_rcpt(const struct dsn_input *in, const struct rcpt *r, struct buf *b,
    struct buf *t)
{
	const struct envelope *e = in->env;
	char st[16], mta[300];
	struct buf v = BUF_INIT;
	int rc = -1;

	dsn_status(in->kind, r->dsn, st);
	if (buf_printf(b, "\nFinal-Recipient: %s; %s\n",
	    str_has_8bit(r->addr) ? "utf-8" : "rfc822", r->addr) == -1)
		goto out;
	if (r->orcpt != NULL && put_orcpt(b, r->orcpt, t) == -1)
		goto out;
	if (buf_printf(b, "Action: %s\nStatus: %s\n", action(in, r), st) == -1)
		goto out;
	if (remote_of(r) != NULL) {
		mta_name(remote_of(r), mta, sizeof(mta));
		if (mta[0] != '\0' &&
		    buf_printf(b, "Remote-MTA: dns; %s\n", mta) == -1)
			goto out;
	}
	if (r->diag != NULL && r->diag[0] != '\0' &&
	    diagnostic_code(&v, clean(t, r->diag, DIAG_MAX)) == -1)
		goto out;
	if (v.len > 0 && dsn_fold(b, "Diagnostic-Code", buf_str(&v)) == -1)
		goto out;
	if (r->last_attempt > 0 &&
	    put_date(b, "Last-Attempt-Date", r->last_attempt) == -1)
		goto out;
	if (in->kind == DSN_DELAYED && e->arrival > 0 &&
	    in->queue_lifetime < (uint64_t)INT64_MAX - (uint64_t)e->arrival &&
	    put_date(b, "Will-Retry-Until",
	    e->arrival + (int64_t)in->queue_lifetime) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&v);
	return rc;
}

static int
write_status(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b, struct buf *t)
{
	const struct envelope *e = in->env;
	size_t i;

	if (buf_printf(b, "Content-Description: Delivery report\n"
	    "Content-Type: message/%sdelivery-status\n"
	    "Content-Transfer-Encoding: %s\n\n"
	    "Reporting-MTA: dns; %s\n",
	    plan->global ? "global-" : "",
	    plan->status_8bit ? "8bit" : "7bit", in->hostname) == -1)
		return -1;
	if (e->qid != NULL &&
	    buf_printf(b, "X-Posthorn-Queue-ID: %s\n", clean(t, e->qid, 64)) == -1)
		return -1;
	/* written as it was given, spaces and all (RFC 3464 2.2.1: its
	 * spelling is kept; ENVID_MAX keeps it on one line) */
	if (e->envid != NULL && e->envid[strspn(e->envid, " \t")] != '\0' &&
	    buf_printf(b, "Original-Envelope-Id: %s\n",
	    clean(t, e->envid, ENVID_MAX)) == -1)
		return -1;
	if (e->arrival > 0 && put_date(b, "Arrival-Date", e->arrival) == -1)
		return -1;
	for (i = 0; i < e->nrcpts; i++)
		if (covered(in, i) &&
		    status_rcpt(in, &e->rcpts[i], b, t) == -1)
			return -1;
	return buf_printf(b, "\n--%s\n", in->boundary);
}

/* ---- the original ------------------------------------------------------ */

struct copier {
	dsn_sink sink;
	void *ctx;
	char out[COPY_CHUNK + 8];
	size_t olen;
	size_t col;		/* octets on the current output line */
	char last;		/* last octet emitted, 0 none */
};

static int
copier_flush(struct copier *c)
{
	int rc = 0;

	if (c->olen > 0)
		rc = c->sink(c->ctx, c->out, c->olen);
	c->olen = 0;
	return rc;
}

static int
copier_put(struct copier *c, char ch)
{
	if (c->olen >= COPY_CHUNK && copier_flush(c) == -1)
		return -1;
	c->out[c->olen++] = ch;
	c->last = ch;
	c->col = ch == '\n' ? 0 : c->col + 1;
	return 0;
}

/* The header section through the filter: NUL becomes '?', a line longer
 * than 998 octets is folded (a line end and a space, RFC 5322 folding);
 * lines within the limit pass unchanged. */
static int
copy_filtered(const struct dsn_input *in, struct copier *c, uint64_t len)
{
	char chunk[COPY_CHUNK];
	uint64_t off = 0;

	if (len > in->msgsize)
		return -1;
	while (off < len) {
		size_t i;
		ssize_t r;

		r = agent_msg_read(in->msgfd, len, chunk, sizeof(chunk), off);
		if (r <= 0)
			return -1;
		for (i = 0; i < (size_t)r; i++) {
			char ch = chunk[i] == '\0' ? '?' : chunk[i];

			if (ch != '\n' && c->col >= SCAN_LINE_MAX &&
			    (copier_put(c, '\n') == -1 ||
			    copier_put(c, ' ') == -1))
				return -1;
			if (copier_put(c, ch) == -1)
				return -1;
		}
		off += (uint64_t)r;
	}
	return 0;
}

/* The body as it is (the plan checked that it is fit to be returned). */
static int
copy_raw(const struct dsn_input *in, struct copier *c, uint64_t from,
    uint64_t to)
{
	char chunk[COPY_CHUNK];

	if (copier_flush(c) == -1 || to > in->msgsize)
		return -1;
	while (from < to) {
		ssize_t r;

		r = agent_msg_read(in->msgfd, to, chunk, sizeof(chunk), from);
		if (r <= 0)
			return -1;
		if (c->sink(c->ctx, chunk, (size_t)r) == -1)
			return -1;
		c->last = chunk[r - 1];
		from += (uint64_t)r;
	}
	return 0;
}

/* Where to cut a header section longer than the limit: after the last
 * line end before the limit (or at the limit if there is none nearby). */
static uint64_t
header_cut(const struct dsn_input *in, uint64_t cap)
{
	char chunk[COPY_CHUNK];
	uint64_t start;
	ssize_t r;
	size_t i;

	if (cap > in->msgsize)
		cap = in->msgsize;
	start = cap > sizeof(chunk) ? cap - sizeof(chunk) : 0;
	r = agent_msg_read(in->msgfd, cap, chunk, sizeof(chunk), start);
	for (i = r > 0 ? (size_t)r : 0; i > 0; i--)
		if (chunk[i - 1] == '\n')
			return start + i;
	return cap;
}

static const char *
orig_type(const struct dsn_plan *plan)
{
	if (plan->orig == DSN_ORIG_FULL)
		return plan->global ? "message/global" : "message/rfc822";
	return plan->global ? "message/global-headers" : "text/rfc822-headers";
}

static const char *
orig_description(const struct dsn_input *in, const struct dsn_plan *plan)
{
	if (in->kind != DSN_FAILED)
		return "Message headers";
	return plan->orig == DSN_ORIG_FULL ? "Undelivered message" :
	    "Undelivered message headers";
}

static int
write_original(const struct dsn_input *in, const struct dsn_plan *plan,
    struct buf *b, dsn_sink sink, void *ctx)
{
	struct copier *c;
	uint64_t hlen = plan->scan.hdr_len;
	int rc = -1;

	if (buf_printf(b, "Content-Description: %s\nContent-Type: %s\n"
	    "Content-Transfer-Encoding: %s\n\n", orig_description(in, plan),
	    orig_type(plan), plan->orig_8bit ? "8bit" : "7bit") == -1)
		return -1;
	if (sink(ctx, b->data, b->len) == -1)
		return -1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->sink = sink;
	c->ctx = ctx;
	if (plan->orig == DSN_ORIG_FULL) {
		if (copy_filtered(in, c, plan->scan.body_off) == -1 ||
		    copy_raw(in, c, plan->scan.body_off, plan->size) == -1)
			goto out;
	} else {
		if (plan->headers_cut)
			hlen = header_cut(in, header_cap(in));
		if (copy_filtered(in, c, hlen) == -1)
			goto out;
	}
	if (c->last != '\0' && c->last != '\n' && copier_put(c, '\n') == -1)
		goto out;
	if (copier_flush(c) == -1)
		goto out;
	rc = 0;
out:
	free(c);
	return rc;
}

int
dsn_write(const struct dsn_input *in, const struct dsn_plan *plan,
    dsn_sink sink, void *ctx, const char **why)
{
	struct buf b = BUF_INIT, t = BUF_INIT;
	int rc = -1;

	*why = "out of memory";
	if (write_header(in, plan, &b) == -1 ||
	    write_human(in, plan, &b, &t) == -1 ||
	    write_status(in, plan, &b, &t) == -1)
		goto out;
	*why = "cannot read the original message or write the notification";
	if (write_original(in, plan, &b, sink, ctx) == -1)
		goto out;
	buf_reset(&b);
	if (buf_printf(&b, "\n--%s--\n", in->boundary) == -1 ||
	    sink(ctx, b.data, b.len) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&b);
	buf_free(&t);
	return rc;
}
