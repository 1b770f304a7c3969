/*
 * test_bounce_dsn.c — unit tests for bounce/dsn.c, bounce/text.c and the
 * notice rules of bounce/job.c: a failure notice checked byte for byte;
 * RET=HDRS, originals over the size limit, bodies that cannot be returned,
 * overlong header sections; delay and success notices; 8-bit and SMTPUTF8
 * originals (RFC 6533 types); hostile diagnostics (no header injection, no
 * line over 998 octets); ORCPT decoding; the double bounce; the helpers
 * (status codes, folding, wrapping, NOTIFY).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bounce/dsn.h"
#include "bounce/job.h"
#include "bounce/text.h"
#include "common/agent.h"

#define NOW	1700000000	/* Tue, 14 Nov 2023 22:13:20 +0000 */
#define ARRIVAL	1699990000	/* Tue, 14 Nov 2023 19:26:40 +0000 */
#define LAST	1699999000	/* Tue, 14 Nov 2023 21:56:40 +0000 */

static const char original[] =
    "Received: from client.example (client.example [192.0.2.9])\n"
    "\tby mx.test with ESMTP; Tue, 14 Nov 2023 19:26:40 +0000\n"
    "From: Alice <alice@example.org>\n"
    "To: bob@example.net, carol@example.net\n"
    "Subject: lunch\n"
    "Message-ID: <lunch.42@example.org>\n"
    "\n"
    "See you at noon.\n";

/* ---- fixtures ---------------------------------------------------------- */

static char *
sdup(const char *s)
{
	char *p = s != NULL ? strdup(s) : NULL;

	ck_assert(s == NULL || p != NULL);
	return p;
}

static void
env_make(struct envelope *e, const char *sender)
{
	memset(e, 0, sizeof(*e));
	e->sender = sdup(sender);
	e->qid = sdup("0005F3A1B2C3D4000042");
	e->arrival = ARRIVAL;
	e->uid = -1;
}

static struct rcpt *
env_rcpt(struct envelope *e, const char *addr, const char *dsn,
    const char *diag, const char *mta)
{
	struct rcpt *r;

	e->rcpts = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*r));
	ck_assert_ptr_nonnull(e->rcpts);
	r = &e->rcpts[e->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = sdup(addr);
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	r->diag = sdup(diag);
	r->remote_mta = sdup(mta);
	r->last_attempt = LAST;
	r->state = RCPT_FAILED;
	return r;
}

static void
env_done(struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
		free(e->rcpts[i].diag);
		free(e->rcpts[i].remote_mta);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->qid);
	free(e->envid);
}

static int
msgfd(const char *p, size_t n)
{
	int fd = memfd_create("original", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

static int
sink_buf(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static void
input(struct dsn_input *in, enum dsn_kind kind, const struct envelope *e,
    int fd, const char *to)
{
	struct stat st;

	/* the whole file is the message (test_bounce_dsn_trailer has more) */
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(dsn_input_init(in, kind, e, fd, (uint64_t)st.st_size,
	    "mx.test", to), 0);
	in->now = NOW;
	snprintf(in->boundary, sizeof(in->boundary), "BOUNDARY");
	snprintf(in->msgid, sizeof(in->msgid), "<dsn.1@mx.test>");
}

/* Plan and write; the notification is in out. */
static void
build(const struct dsn_input *in, struct dsn_plan *plan, struct buf *out)
{
	const char *why = NULL;

	buf_init(out);
	ck_assert_msg(dsn_plan(in, plan, &why) == 0, "plan: %s", why);
	ck_assert_msg(dsn_write(in, plan, sink_buf, out, &why) == 0,
	    "write: %s", why);
}

/* No line longer than 998 octets, no CR, every line ends with LF. */
static void
check_lines(const struct buf *b)
{
	size_t i, col = 0;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			col = 0;
			continue;
		}
		ck_assert_msg(b->data[i] != '\r', "CR at %zu", i);
		col++;
		ck_assert_msg(col <= 998, "line too long at %zu", i);
	}
	ck_assert(b->len > 0 && b->data[b->len - 1] == '\n');
}

/* The text of MIME part n (1-based) of our multipart/report, headers
 * included, without the line end before the next delimiter. */
static char *
part(const struct buf *b, int n)
{
	const char *p = b->data, *end;
	int k;

	for (k = 0; k < n; k++) {
		p = strstr(p, "\n--BOUNDARY\n");
		ck_assert_ptr_nonnull(p);
		p += 12;
	}
	end = strstr(p, "\n--BOUNDARY");
	ck_assert_ptr_nonnull(end);
	return strndup(p, (size_t)(end - p));
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* Does the text (with line breaks and indentation turned into single
 * spaces) contain words?  For word-wrapped human text. */
static bool
has_words(const struct buf *b, const char *words)
{
	char *flat = malloc(b->len + 1);
	size_t i, o = 0;
	bool r;

	ck_assert_ptr_nonnull(flat);
	for (i = 0; i < b->len; i++) {
		char c = b->data[i] == '\n' ? ' ' : b->data[i];

		if (c == ' ' && o > 0 && flat[o - 1] == ' ')
			continue;
		flat[o++] = c;
	}
	flat[o] = '\0';
	r = strstr(flat, words) != NULL;
	free(flat);
	return r;
}

static size_t
first_diff(const char *a, const char *b)
{
	size_t i;

	for (i = 0; a[i] != '\0' && a[i] == b[i]; i++)
		;
	return i;
}

/* ---- a failure notice, byte for byte ----------------------------------- */

static const char expect_failed[] =
    "From: Mail Delivery System <MAILER-DAEMON@mx.test>\n"
    "To: <alice@example.org>\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Message-ID: <dsn.1@mx.test>\n"
    "Auto-Submitted: auto-replied\n"
    "In-Reply-To: <lunch.42@example.org>\n"
    "References: <lunch.42@example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    "\tboundary=\"BOUNDARY\"\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n"
    "This is a MIME-encapsulated message.\n"
    "\n"
    "--BOUNDARY\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n"
    "This is the mail delivery system at mx.test.\n"
    "\n"
    "Your message could not be delivered to the recipients below. The errors are\n"
    "permanent: the message will not be retried for them.\n"
    "\n"
    "Queue id: 0005F3A1B2C3D4000042\n"
    "Arrived: Tue, 14 Nov 2023 19:26:40 +0000\n"
    "\n"
    "<bob@example.net>: could not be delivered (5.1.1, bad destination mailbox\n"
    "address)\n"
    "    The server mx.example.net[192.0.2.25] said:\n"
    "        550 5.1.1 <bob@example.net>: Recipient address rejected: User\n"
    "        unknown\n"
    "    What you can do: Check the recipient address for typing errors, or ask\n"
    "    the recipient for the correct one.\n"
    "\n"
    "<carol@example.net>: could not be delivered (5.2.2, mailbox full)\n"
    "    The mail system said:\n"
    "        mailbox full\n"
    "    What you can do: The recipient's mailbox is full. Try again later, or\n"
    "    reach the recipient another way.\n"
    "\n"
    "The original message is attached. If you need help, please forward this\n"
    "notice to your postmaster.\n"
    "\n"
    "--BOUNDARY\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n"
    "Reporting-MTA: dns; mx.test\n"
    "X-Posthorn-Queue-ID: 0005F3A1B2C3D4000042\n"
    "Original-Envelope-Id: lunch-envid-7\n"
    "Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\n"
    "\n"
    "Final-Recipient: rfc822; bob@example.net\n"
    "Original-Recipient: rfc822; bob+tag@example.net\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "Remote-MTA: dns; mx.example.net\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address\n"
    " rejected: User unknown\n"
    "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\n"
    "\n"
    "Final-Recipient: rfc822; carol@example.net\n"
    "Action: failed\n"
    "Status: 5.2.2\n"
    "Diagnostic-Code: x-posthorn; mailbox full\n"
    "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\n"
    "\n"
    "--BOUNDARY\n"
    "Content-Description: Undelivered message\n"
    "Content-Type: message/rfc822\n"
    "Content-Transfer-Encoding: 7bit\n"
    "\n";

START_TEST(test_failed_exact)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	struct rcpt *r;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	e.envid = sdup("lunch-envid-7");
	r = env_rcpt(&e, "bob@example.net", "5.1.1", "550 5.1.1 "
	    "<bob@example.net>: Recipient address rejected: User unknown",
	    "mx.example.net[192.0.2.25]");
	r->orcpt = sdup("rfc822;bob+2Btag@example.net");
	r = env_rcpt(&e, "carol@example.net", "5.2.2", "mailbox full", NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert(!plan.eightbit && !plan.smtputf8 && !plan.global);
	ck_assert_int_eq(plan.orig, DSN_ORIG_FULL);
	ck_assert_uint_eq(plan.ncover, 2);
	ck_assert_msg(strncmp(out.data, expect_failed,
	    sizeof(expect_failed) - 1) == 0, "differs at %zu: got:\n%s",
	    first_diff(out.data, expect_failed), out.data);
	ck_assert_uint_eq(out.len, sizeof(expect_failed) - 1 +
	    sizeof(original) - 1 + strlen("\n--BOUNDARY--\n"));
	ck_assert(memcmp(out.data + sizeof(expect_failed) - 1, original,
	    sizeof(original) - 1) == 0);
	ck_assert_str_eq(out.data + out.len - 14, "\n--BOUNDARY--\n");
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* Only the covered recipients are reported. */
START_TEST(test_cover)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	bool cover[3] = { false, true, false };
	const char *why;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "one@example.net", "5.1.1", NULL, NULL);
	env_rcpt(&e, "two@example.net", "5.1.1", NULL, NULL);
	env_rcpt(&e, "three@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	in.cover = cover;
	build(&in, &plan, &out);
	ck_assert_uint_eq(plan.ncover, 1);
	ck_assert_ptr_null(strstr(out.data, "one@example.net"));
	ck_assert_ptr_null(strstr(out.data, "three@example.net"));
	ck_assert_uint_eq(count(out.data, "Final-Recipient: rfc822; "
	    "two@example.net\n"), 1);
	ck_assert_ptr_nonnull(strstr(out.data, "to the recipient below."));
	buf_free(&out);
	cover[1] = false;
	ck_assert_int_eq(dsn_plan(&in, &plan, &why), -2);
	ck_assert_str_eq(why, "no recipient to report");
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- what is returned of the original ----------------------------------- */

#define HEADERS_OF_ORIGINAL \
    "Received: from client.example (client.example [192.0.2.9])\n" \
    "\tby mx.test with ESMTP; Tue, 14 Nov 2023 19:26:40 +0000\n" \
    "From: Alice <alice@example.org>\n" \
    "To: bob@example.net, carol@example.net\n" \
    "Subject: lunch\n" \
    "Message-ID: <lunch.42@example.org>"

START_TEST(test_ret_hdrs)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	char *p3;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	e.ret = RET_HDRS;
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	p3 = part(&out, 3);
	/* the part ends right after the last header line */
	ck_assert_str_eq(p3, "Content-Description: Undelivered message "
	    "headers\nContent-Type: text/rfc822-headers\n"
	    "Content-Transfer-Encoding: 7bit\n\n" HEADERS_OF_ORIGINAL "\n");
	free(p3);
	ck_assert_str_eq(out.data + out.len - 37,
	    "<lunch.42@example.org>\n\n--BOUNDARY--\n");
	ck_assert_ptr_null(strstr(out.data, "See you at noon"));
	ck_assert(has_words(&out, "Only the headers of the original message "
	    "are attached: you asked for headers only (RET=HDRS)."));
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

START_TEST(test_too_large)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out, big = BUF_INIT;
	size_t i;
	int fd;

	buf_append_str(&big, "Subject: big\nMessage-ID: <big@x.example>\n\n");
	for (i = 0; i < 2000; i++)
		buf_append_str(&big, "0123456789012345678901234567890123456789\n");
	fd = msgfd(big.data, big.len);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.3.4", "552 5.3.4 too big", "mx");
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	in.max_original = 100 * 1024;
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_FULL);
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: message/rfc822"));
	buf_free(&out);
	in.max_original = 1000;
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	ck_assert(!plan.headers_cut);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "Content-Type: text/rfc822-headers\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\n\nSubject: big\n"
	    "Message-ID: <big@x.example>\n\n--BOUNDARY--\n"));
	ck_assert_ptr_null(strstr(out.data, "0123456789"));
	ck_assert(has_words(&out, "the message is larger than the limit for "
	    "returned messages."));
	ck_assert_ptr_nonnull(strstr(out.data, "In-Reply-To: <big@x.example>"));
	buf_free(&out);
	buf_free(&big);
	env_done(&e);
	close(fd);
}
END_TEST

/* A body with a line over 998 octets or a NUL cannot go back as it is. */
START_TEST(test_unreturnable_body)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out, m = BUF_INIT;
	int fd;

	buf_append_str(&m, "Subject: x\n\nbinary\0data\n");
	buf_append(&m, "a\0b\n", 4);
	fd = msgfd(m.data, m.len);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.6.0", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	ck_assert(has_words(&out, "the message body cannot be returned "
	    "unchanged (it has NUL octets or lines longer than 998 octets)."));
	ck_assert_uint_eq(strlen(out.data), out.len);
	buf_free(&out);
	buf_free(&m);
	env_done(&e);
	close(fd);
}
END_TEST

/* A header section longer than the limit is cut after a whole line, and
 * a header line longer than 998 octets is folded. */
START_TEST(test_header_cut_and_fold)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out, m = BUF_INIT;
	size_t i;
	char *p3, *lng;
	int fd;

	buf_append_str(&m, "X-Long: ");
	for (i = 0; i < 1500; i++)
		buf_append_char(&m, 'L');
	buf_append_str(&m, "\n");
	for (i = 0; i < 1000; i++)
		buf_printf(&m, "X-Filler-%04zu: some header text here\n", i);
	buf_append_str(&m, "\nbody\n");
	fd = msgfd(m.data, m.len);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	in.max_original = 20000;
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	ck_assert(plan.headers_cut);
	ck_assert(plan.scan.hdr_long);
	p3 = part(&out, 3);
	ck_assert_ptr_nonnull(strstr(p3, "X-Filler-0000: some header text "
	    "here\n"));
	/* the 1508-octet line is folded after 998 octets, nothing lost */
	lng = strstr(p3, "\n\nX-Long: ");
	ck_assert_ptr_nonnull(lng);
	lng += 2;
	ck_assert_uint_eq(strcspn(lng, "\n"), 998);
	ck_assert_int_eq(lng[999], ' ');
	ck_assert_uint_eq(strspn(lng + 8, "L"), 990);
	ck_assert_uint_eq(strspn(lng + 1000, "L"), 510);
	ck_assert_int_eq(lng[1510], '\n');
	ck_assert_ptr_null(strstr(p3, "X-Filler-0999"));
	/* cut after a complete line, and nothing beyond the limit */
	ck_assert_str_eq(p3 + strlen(p3) - 10, "text here\n");
	ck_assert_uint_le(strlen(p3), 20000 + 200);
	ck_assert(has_words(&out, "They were too long and have been cut "
	    "short."));
	free(p3);
	check_lines(&out);
	buf_free(&out);
	buf_free(&m);
	env_done(&e);
	close(fd);
}
END_TEST

/* A header line of exactly 998 octets is returned unchanged. */
START_TEST(test_header_998_unchanged)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out, m = BUF_INIT;
	int fd;

	buf_append_str(&m, "X-Edge: ");
	while (m.len < 998)
		buf_append_char(&m, 'E');
	buf_append_str(&m, "\nSubject: edge\n\nbody\n");
	fd = msgfd(m.data, m.len);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_FULL);
	ck_assert_ptr_nonnull(memmem(out.data, out.len, m.data, m.len));
	check_lines(&out);
	buf_free(&out);
	buf_free(&m);
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- delay and success notices ------------------------------------------ */

START_TEST(test_delayed)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	char *p2;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "4.4.1", "connection timed out",
	    "mx.example.net[192.0.2.25]");
	input(&in, DSN_DELAYED, &e, fd, "alice@example.org");
	in.queue_lifetime = 5 * 86400;
	build(&in, &plan, &out);
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	ck_assert_ptr_null(plan.why_headers);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "\nSubject: Delayed Mail (still being retried)\n"));
	p2 = part(&out, 2);
	ck_assert_str_eq(p2, "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n"
	    "Content-Transfer-Encoding: 7bit\n\n"
	    "Reporting-MTA: dns; mx.test\n"
	    "X-Posthorn-Queue-ID: 0005F3A1B2C3D4000042\n"
	    "Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\n\n"
	    "Final-Recipient: rfc822; bob@example.net\n"
	    "Action: delayed\n"
	    "Status: 4.4.1\n"
	    "Remote-MTA: dns; mx.example.net\n"
	    "Diagnostic-Code: x-posthorn; connection timed out\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 21:56:40 +0000\n"
	    "Will-Retry-Until: Sun, 19 Nov 2023 19:26:40 +0000\n");
	free(p2);
	ck_assert(has_words(&out, "It will keep trying until Sun, 19 Nov 2023 "
	    "19:26:40 +0000. If the message still cannot be delivered by "
	    "then, you will be told."));
	ck_assert_ptr_nonnull(strstr(out.data, "    Last attempt: Tue, 14 Nov "
	    "2023 21:56:40 +0000\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Description: Message "
	    "headers\nContent-Type: text/rfc822-headers\n"));
	ck_assert_ptr_null(strstr(out.data, "See you at noon"));
	ck_assert_ptr_null(strstr(out.data, "What you can do"));
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

START_TEST(test_success)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "2.0.0", "250 2.0.0 ok queued as X",
	    "mx.example.net[192.0.2.25]");
	env_rcpt(&e, "dave@mx.test", "2.0.0", NULL, NULL);
	input(&in, DSN_SUCCESS, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "\nSubject: Successful Mail Delivery Report\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "bob@example.net\nAction: relayed\nStatus: 2.0.0\n"
	    "Remote-MTA: dns; mx.example.net\n"
	    "Diagnostic-Code: smtp; 250 2.0.0 ok queued as X\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "dave@mx.test\nAction: delivered\nStatus: 2.0.0\n"));
	ck_assert(has_words(&out, "<bob@example.net>: relayed (2.0.0, other "
	    "or undefined status) It was handed to mx.example.net[192.0.2.25], "
	    "which does not send delivery notifications itself."));
	ck_assert(has_words(&out, "<dave@mx.test>: delivered (2.0.0, other "
	    "or undefined status) The headers of the original message are "
	    "attached."));
	ck_assert_int_eq(plan.orig, DSN_ORIG_HEADERS);
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* posthorn-remote's wording and posthorn-local's relay "local". */
START_TEST(test_agent_wording)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.1.1", "host mx.example.net"
	    "[192.0.2.25]:25 said: 550 5.1.1 <bob@example.net>: user unknown "
	    "(in reply to RCPT TO)", "mx.example.net[192.0.2.25]:25");
	env_rcpt(&e, "carol@example.net", "5.4.4", "host mx.example.net"
	    "[192.0.2.25]:25 refused to talk to me: 554 go away",
	    "mx.example.net[192.0.2.25]:25");
	env_rcpt(&e, "dave@mx.test", "5.2.2", "mailbox full", "local");
	env_rcpt(&e, "erin@example.net", "5.0.0", "host [192.0.2.7]:25 said: "
	    "554 no", "[192.0.2.7]:25");
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "bob@example.net\nAction: failed\nStatus: 5.1.1\n"
	    "Remote-MTA: dns; mx.example.net\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: user unknown\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "    The server "
	    "mx.example.net[192.0.2.25]:25 said:\n        550 5.1.1 "
	    "<bob@example.net>: user unknown (in reply to RCPT TO)\n"));
	ck_assert(has_words(&out, "Diagnostic-Code: x-posthorn; host "
	    "mx.example.net[192.0.2.25]:25 refused to talk to me: 554 go "
	    "away"));
	ck_assert(has_words(&out, "The mail system said: host "
	    "mx.example.net[192.0.2.25]:25 refused to talk to me: 554 go "
	    "away"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "dave@mx.test\nAction: failed\nStatus: 5.2.2\n"
	    "Diagnostic-Code: x-posthorn; mailbox full\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "erin@example.net\nAction: failed\nStatus: 5.0.0\n"
	    "Remote-MTA: dns; [192.0.2.7]\nDiagnostic-Code: smtp; 554 no\n"));
	buf_free(&out);
	env_done(&e);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "dave@mx.test", "2.0.0", "delivered to maildir", "local");
	input(&in, DSN_SUCCESS, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "dave@mx.test\nAction: delivered\nStatus: 2.0.0\n"
	    "Diagnostic-Code: x-posthorn; delivered to maildir\n"));
	ck_assert_ptr_null(strstr(out.data, "Remote-MTA"));
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* A success's Action (RFC 3464 2.3.3) from how the agent says it was
 * done: an LMTP server's 2xx is a final delivery ("delivered", not
 * "relayed", and no "does not send notifications" line); an alias or
 * .forward that sent the message to several places is "expanded"; a
 * plain SMTP relay stays "relayed". */
START_TEST(test_success_actions)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	struct rcpt *r;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	r = env_rcpt(&e, "bob@mx.test", "2.0.0", AGENT_TEXT_FINAL
	    "250 2.0.0 <bob@mx.test> saved", "lmtp.mx.test[192.0.2.9]:24");
	r->state = RCPT_DELIVERED;
	r = env_rcpt(&e, "team@mx.test", "2.0.0", AGENT_TEXT_EXPANDED
	    "3 destinations, delivered to maildir /x/", "local");
	r->state = RCPT_DELIVERED;
	r = env_rcpt(&e, "carol@example.net", "2.0.0", "250 2.0.0 ok",
	    "mx.example.net[192.0.2.25]:25");
	r->state = RCPT_DELIVERED;
	input(&in, DSN_SUCCESS, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "bob@mx.test\nAction: delivered\nStatus: 2.0.0\n"
	    "Remote-MTA: dns; lmtp.mx.test\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "team@mx.test\nAction: expanded\nStatus: 2.0.0\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "carol@example.net\nAction: relayed\nStatus: 2.0.0\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "<bob@mx.test>: delivered"));
	ck_assert_ptr_nonnull(strstr(out.data, "<team@mx.test>: expanded"));
	ck_assert_ptr_nonnull(strstr(out.data, "<carol@example.net>: relayed"));
	ck_assert_uint_eq(count(out.data, "does not send"), 1);
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- 8-bit and internationalised originals ------------------------------ */

/* LMTP over a unix socket: posthorn-remote's relay is the socket's path,
 * which names no host.  No Remote-MTA then (RFC 3464 2.3.5: optional;
 * "dns" is the only MTA-name-type for Internet mail), rather than the
 * path with its slashes dropped; the text still names the socket. */
START_TEST(test_lmtp_unix_relay)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@mx.test", "5.2.2", "host /run/dovecot/lmtp said: "
	    "552 5.2.2 over quota (in reply to end of DATA command)",
	    "/run/dovecot/lmtp");
	env_rcpt(&e, "carol@mx.test", "5.1.1", "host [/run/x.sock] said: "
	    "550 5.1.1 no (in reply to RCPT TO command)", "[/run/x.sock]");
	env_rcpt(&e, "dave@example.net", "5.1.1", "host mx.example.net"
	    "[192.0.2.25]:25 said: 550 5.1.1 no (in reply to RCPT TO)",
	    "mx.example.net[192.0.2.25]:25");
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "bob@mx.test\nAction: failed\nStatus: 5.2.2\n"
	    "Diagnostic-Code: smtp; 552 5.2.2 over quota\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "carol@mx.test\nAction: failed\nStatus: 5.1.1\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no\n"));
	ck_assert_uint_eq(count(out.data, "Remote-MTA:"), 1);
	ck_assert_ptr_nonnull(strstr(out.data, "Remote-MTA: dns; "
	    "mx.example.net\n"));
	ck_assert_ptr_null(strstr(out.data, "rundovecotlmtp"));
	ck_assert_ptr_nonnull(strstr(out.data, "/run/dovecot/lmtp said:"));
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

START_TEST(test_8bit_body)
{
	static const char m[] = "Subject: x\nMessage-ID: <8@x.example>\n\n"
	    "Gr\xc3\xbc\xc3\x9f" "e\n";
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(m, sizeof(m) - 1);

	env_make(&e, "alice@example.org");
	e.body = BODY_8BITMIME;
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert(plan.eightbit && plan.orig_8bit);
	ck_assert(!plan.global && !plan.smtputf8);
	ck_assert_ptr_nonnull(strstr(out.data, "\tboundary=\"BOUNDARY\"\n"
	    "Content-Transfer-Encoding: 8bit\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: message/rfc822\n"
	    "Content-Transfer-Encoding: 8bit\n\nSubject: x\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "charset=us-ascii\n"
	    "Content-Transfer-Encoding: 7bit\n"));
	buf_free(&out);
	/* headers only: the 8-bit body is not returned, all is 7bit */
	e.ret = RET_HDRS;
	build(&in, &plan, &out);
	ck_assert(!plan.eightbit);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "Content-Transfer-Encoding: 7bit\n\nThis is a MIME"));
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

START_TEST(test_smtputf8)
{
	static const char m[] = "From: J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example>\nSubject: \xc3\xa9t\xc3\xa9\n\nh\xc3\xa9\n";
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(m, sizeof(m) - 1);

	env_make(&e, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
	e.smtputf8 = true;
	env_rcpt(&e, "\xc3\xa9lise@example.net", "5.1.1", "550 no such user",
	    "mx.example.net[192.0.2.25]");
	env_rcpt(&e, "plain@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, e.sender);
	build(&in, &plan, &out);
	ck_assert(plan.global && plan.smtputf8 && plan.eightbit);
	ck_assert_ptr_nonnull(strstr(out.data, "To: <j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example>\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: text/plain; "
	    "charset=utf-8\nContent-Transfer-Encoding: 8bit\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: "
	    "message/global-delivery-status\nContent-Transfer-Encoding: "
	    "8bit\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: utf-8; "
	    "\xc3\xa9lise@example.net\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Final-Recipient: rfc822; "
	    "plain@example.net\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: message/global\n"
	    "Content-Transfer-Encoding: 8bit\n"));
	buf_free(&out);
	e.ret = RET_HDRS;
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data,
	    "Content-Type: message/global-headers\n"
	    "Content-Transfer-Encoding: 8bit\n"));
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- hostile input ------------------------------------------------------ */

START_TEST(test_hostile_diag)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out, diag = BUF_INIT;
	size_t i;
	int fd = msgfd(original, sizeof(original) - 1);

	buf_append_str(&diag, "550 5.7.1 no\r\nBcc: victim@example.com\r\n\r\n"
	    "--BOUNDARY\n\x1b[31m");
	for (i = 0; i < 5000; i++)
		buf_append_char(&diag, 'A');
	env_make(&e, "alice@example.org");
	e.envid = sdup("id\nX-Evil: 1");
	env_rcpt(&e, "bob@example.net", "5.7.1", diag.data,
	    "mx\n.evil[1.2.3.4]\nX-Inject: 1");
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_ptr_null(strstr(out.data, "\nBcc:"));
	ck_assert_ptr_null(strstr(out.data, "\nX-Evil"));
	ck_assert_ptr_null(strstr(out.data, "\nX-Inject"));
	ck_assert_ptr_null(strstr(out.data, "\x1b"));
	ck_assert_uint_eq(count(out.data, "\n--BOUNDARY\n"), 3);
	ck_assert_ptr_nonnull(strstr(out.data, "Remote-MTA: dns; mx.evil\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Original-Envelope-Id: "
	    "id?X-Evil: 1\n"));
	check_lines(&out);
	buf_free(&out);
	buf_free(&diag);
	env_done(&e);
	close(fd);
}
END_TEST

START_TEST(test_unsafe_address_refused)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	const char *why;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net>\nBcc: x", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	ck_assert_int_eq(dsn_plan(&in, &plan, &why), -2);
	env_done(&e);
	env_make(&e, "alice@example.org");
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org>\nBcc: x");
	ck_assert_int_eq(dsn_plan(&in, &plan, &why), -2);
	ck_assert_str_eq(why, "notification address unusable");
	/* a descriptor that is not a file: worth retrying */
	in.to = "alice@example.org";
	in.msgfd = -1;
	ck_assert_int_eq(dsn_plan(&in, &plan, &why), -1);
	ck_assert_str_eq(why, "original message unreadable");
	env_done(&e);
	close(fd);
}
END_TEST


/* Quoted local parts may hold '<', '>' and ',': still one address in the
 * notice's header lines and fields (they used to be refused, and the
 * notice was lost). */
START_TEST(test_quoted_address_reported)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "\"x>y\"@example.org");
	env_rcpt(&e, "\"a<b, c\"@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "\"x>y\"@example.org");
	build(&in, &plan, &out);
	check_lines(&out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out),
	    "\nTo: <\"x>y\"@example.org>\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out),
	    "\nFinal-Recipient: rfc822; \"a<b, c\"@example.net\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&out),
	    "<\"a<b, c\"@example.net>: could not be delivered"));
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST


/* The ENVID is repeated as it was spelt, spaces included (RFC 3464
 * 2.2.1); it used to be folded like text, runs of spaces collapsed. */
START_TEST(test_envid_spelling_kept)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "alice@example.org");
	e.envid = sdup("  a   b\t c");
	env_rcpt(&e, "bob@example.net", "5.1.1", NULL, NULL);
	input(&in, DSN_FAILED, &e, fd, "alice@example.org");
	build(&in, &plan, &out);
	ck_assert_msg(strstr(out.data,
	    "\nOriginal-Envelope-Id:   a   b? c\n") != NULL, "%s", out.data);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- double bounce ------------------------------------------------------ */

START_TEST(test_double_bounce)
{
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd = msgfd(original, sizeof(original) - 1);

	env_make(&e, "");
	env_rcpt(&e, "alice@example.org", "5.1.1", "550 unknown", "mx.example");
	input(&in, DSN_FAILED, &e, fd, "postmaster@mx.test");
	in.double_bounce = true;
	build(&in, &plan, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "To: <postmaster@mx.test>\n"
	    "Subject: Undelivered Mail Returned to Postmaster\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "\nSender: <>\n"));
	ck_assert(has_words(&out, "this copy goes to you, the postmaster, "
	    "instead. The message will not be retried; if this notice cannot "
	    "be delivered either, it is dropped."));
	ck_assert_ptr_null(strstr(out.data, "What you can do"));
	check_lines(&out);
	buf_free(&out);
	env_done(&e);
	close(fd);
}
END_TEST

/* ---- helpers ----------------------------------------------------------- */

START_TEST(test_status)
{
	char st[16];

	dsn_status(DSN_FAILED, "5.1.1", st);
	ck_assert_str_eq(st, "5.1.1");
	dsn_status(DSN_FAILED, "4.4.7", st);	/* expired: now permanent */
	ck_assert_str_eq(st, "5.4.7");
	dsn_status(DSN_DELAYED, "5.2.2", st);
	ck_assert_str_eq(st, "4.2.2");
	dsn_status(DSN_SUCCESS, "", st);
	ck_assert_str_eq(st, "2.0.0");
	dsn_status(DSN_FAILED, "5.1234.1", st);
	ck_assert_str_eq(st, "5.0.0");
	dsn_status(DSN_FAILED, "3.1.1", st);
	ck_assert_str_eq(st, "5.0.0");
	dsn_status(DSN_FAILED, "5.1.", st);
	ck_assert_str_eq(st, "5.0.0");
	dsn_status(DSN_DELAYED, NULL, st);
	ck_assert_str_eq(st, "4.0.0");
	ck_assert_str_eq(dsn_status_text("5.1.10"),
	    "recipient address has null MX");
	ck_assert_str_eq(dsn_status_text("5.7.26"),
	    "security or policy status");
	ck_assert_str_eq(dsn_status_text("5.9.9"), "other or undefined status");
	ck_assert_str_eq(dsn_advice("5.2.2"), "The recipient's mailbox is "
	    "full. Try again later, or reach the recipient another way.");
}
END_TEST

START_TEST(test_fold_wrap)
{
	struct buf b = BUF_INIT;
	char *big = malloc(2501);
	size_t i, col = 0, maxcol = 0;

	ck_assert_int_eq(dsn_fold(&b, "Name", "short value"), 0);
	ck_assert_str_eq(b.data, "Name: short value\n");
	buf_reset(&b);
	ck_assert_int_eq(dsn_fold(&b, "Diagnostic-Code", "smtp; 550 one two "
	    "three four five six seven eight nine ten eleven twelve"), 0);
	ck_assert_str_eq(b.data, "Diagnostic-Code: smtp; 550 one two three "
	    "four five six seven eight nine ten\n eleven twelve\n");
	buf_reset(&b);
	memset(big, 'x', 2500);
	big[2500] = '\0';
	ck_assert_int_eq(dsn_fold(&b, "D", big), 0);
	for (i = 0; i < b.len; i++) {
		col = b.data[i] == '\n' ? 0 : col + 1;
		if (col > maxcol)
			maxcol = col;
	}
	ck_assert_uint_le(maxcol, 998);
	ck_assert_uint_eq(count(b.data, "\n "), 2);	/* folded twice */
	buf_reset(&b);
	ck_assert_int_eq(dsn_wrap(&b, "  ", "aaa bbb ccc", 9), 0);
	ck_assert_str_eq(b.data, "  aaa bbb\n  ccc\n");
	buf_reset(&b);
	ck_assert_int_eq(dsn_wrap(&b, "", "", 9), 0);
	ck_assert_str_eq(b.data, "\n");
	buf_free(&b);
	free(big);
}
END_TEST

START_TEST(test_null_sender_and_notify)
{
	ck_assert(dsn_sender_is_null(""));
	ck_assert(dsn_sender_is_null(NULL));
	ck_assert(dsn_sender_is_null("MAILER-DAEMON@example.org"));
	ck_assert(dsn_sender_is_null("mailer-daemon@example.org"));
	ck_assert(dsn_sender_is_null("Mailer-Daemon"));
	ck_assert(!dsn_sender_is_null("mailer-daemon-fan@example.org"));
	ck_assert(!dsn_sender_is_null("alice@example.org"));

	ck_assert(bounce_wanted(DSN_FAILED, 0));
	ck_assert(bounce_wanted(DSN_DELAYED, 0));
	ck_assert(!bounce_wanted(DSN_SUCCESS, 0));
	ck_assert(!bounce_wanted(DSN_FAILED, NOTIFY_NEVER));
	ck_assert(!bounce_wanted(DSN_DELAYED, NOTIFY_NEVER));
	ck_assert(!bounce_wanted(DSN_FAILED, NOTIFY_SUCCESS));
	ck_assert(bounce_wanted(DSN_SUCCESS, NOTIFY_SUCCESS));
	ck_assert(!bounce_wanted(DSN_DELAYED, NOTIFY_FAILURE));
	ck_assert(bounce_wanted(DSN_DELAYED, NOTIFY_FAILURE | NOTIFY_DELAY));
	ck_assert(bounce_wanted(DSN_FAILED, NOTIFY_FAILURE | NOTIFY_DELAY));
	ck_assert(!bounce_wanted(DSN_SUCCESS, NOTIFY_FAILURE | NOTIFY_DELAY));
}
END_TEST

static Suite *
dsn_suite(void)
{
	Suite *s = suite_create("bounce_dsn");
	TCase *tc = tcase_create("dsn");

	tcase_add_test(tc, test_failed_exact);
	tcase_add_test(tc, test_cover);
	tcase_add_test(tc, test_ret_hdrs);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_unreturnable_body);
	tcase_add_test(tc, test_header_cut_and_fold);
	tcase_add_test(tc, test_header_998_unchanged);
	tcase_add_test(tc, test_delayed);
	tcase_add_test(tc, test_success);
	tcase_add_test(tc, test_agent_wording);
	tcase_add_test(tc, test_lmtp_unix_relay);
	tcase_add_test(tc, test_success_actions);
	tcase_add_test(tc, test_8bit_body);
	tcase_add_test(tc, test_smtputf8);
	tcase_add_test(tc, test_hostile_diag);
	tcase_add_test(tc, test_unsafe_address_refused);
	tcase_add_test(tc, test_quoted_address_reported);
	tcase_add_test(tc, test_envid_spelling_kept);
	tcase_add_test(tc, test_double_bounce);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_fold_wrap);
	tcase_add_test(tc, test_null_sender_and_notify);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	setenv("TZ", "UTC", 1);
	tzset();
	sr = srunner_create(dsn_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
