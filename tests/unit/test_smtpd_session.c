/*
 * test_smtpd_session.c — the smtpd state machine, driven by whole
 * scripted sessions over memory files (session_memory) with the
 * in-memory sink.  Every test compares the server's replies byte for
 * byte, and the queued message and envelope where one is accepted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"
#include "smtpd/memsink.h"

static struct config cfg;
static struct local_tables tables;
static struct memsink ms;
static struct smtpd_sink sink;
static struct buf out;

#define GREET "220 mx.example.org ESMTP\r\n"
#define EHLO_IN "EHLO client.example\r\n"
#define EHLO_OUT_IP(ip) \
	"250-mx.example.org Hello client.example [" ip "]\r\n" \
	"250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n" \
	"250-ETRN\r\n250 CHUNKING\r\n"
#define EHLO_OUT EHLO_OUT_IP("192.0.2.7")
#define BYE "221 2.0.0 mx.example.org Bye\r\n"
#define BARE_BYE "521 5.5.2 mx.example.org Bare <CR> or <LF> received, " \
	"closing connection\r\n"
#define QUEUED "250 2.0.0 Ok: queued as 00000000000000000001\r\n"

static void
setup(void)
{
	struct buf err = BUF_INIT;
	static const char mbox[] = "alice /tmp/\nbob@example.org /tmp/\n";
	static const char reloc[] = "old@example.org new@example.net\n";
	static const char aliases[] = "fwd: someone@elsewhere.example\n"
	    "staff: alice, bob@example.org\n";

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_msg(config_load("/nonexistent/posthorn-test", &cfg,
	    &err) == 0, "%s", buf_str(&err));
	free(cfg.hostname);
	cfg.hostname = strdup("mx.example.org");
	strlist_free(&cfg.local_domains);
	strlist_add(&cfg.local_domains, "example.org");
	strlist_free(&cfg.relay_domains);
	strlist_add(&cfg.relay_domains, "relay.example");
	cfg.max_message_size = 10000;
	cfg.max_recipients = 3;
	cfg.smtp_max_errors = 10;
	cfg.reverse_dns = false;
	cfg.bare_newline = BARE_NEWLINE_REJECT;
	memset(&tables, 0, sizeof(tables));
	ck_assert_int_eq(table_parse("mailboxes", mbox, strlen(mbox),
	    TABLE_SPACE, &tables.mailboxes, &err), 0);
	ck_assert_int_eq(table_parse("relocated", reloc, strlen(reloc),
	    TABLE_SPACE, &tables.relocated, &err), 0);
	ck_assert_int_eq(table_parse("aliases", aliases, strlen(aliases),
	    TABLE_ALIASES, &tables.aliases, &err), 0);
	memsink_init(&ms, &sink);
	buf_init(&out);
	buf_free(&err);
}

static void
teardown(void)
{
	local_tables_free(&tables);
	config_free(&cfg);
	memsink_free(&ms);
	buf_free(&out);
}

/* Run a session from peer with input in; returns the replies. */
static const char *
run_from(unsigned mode, const char *peer, const char *in, size_t len)
{
	buf_reset(&out);
	ck_assert_int_eq(session_memory(&cfg, &tables, &sink, mode, peer, in,
	    len, &out), 0);
	return buf_str(&out);
}

static const char *
run_ip(const char *peer, const char *in)
{
	return run_from(0, peer, in, strlen(in));
}

static const char *
run(const char *in)
{
	return run_from(0, "192.0.2.7", in, strlen(in));
}

/* The queued message without smtpd's Received header. */
static const char *
body_of_last(void)
{
	const char *m = buf_str(&ms.last);

	ck_assert_msg(strncmp(m, "Received: from ", 15) == 0, "%s", m);
	/* the header is folded: skip its continuation lines */
	for (m = strchr(m, '\n'); m != NULL && m[1] == '\t';
	    m = strchr(m + 1, '\n'))
		;
	ck_assert_ptr_nonnull(m);
	return m + 1;
}

START_TEST(test_greeting_ehlo_quit)
{
	ck_assert_str_eq(run(EHLO_IN "QUIT\r\n"), GREET EHLO_OUT BYE);
	ck_assert_str_eq(run("HELO client.example\r\nNOOP\r\nQUIT\r\n"),
	    GREET "250 mx.example.org\r\n250 2.0.0 Ok\r\n" BYE);
}
END_TEST

START_TEST(test_simple_message)
{
	const char *in = EHLO_IN
	    "MAIL FROM:<sender@remote.example> SIZE=30 BODY=8BITMIME\r\n"
	    "RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;alice+40example.org\r\n"
	    "DATA\r\n"
	    "Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\nQUIT\r\n";

	ck_assert_str_eq(run(in), GREET EHLO_OUT
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n" QUEUED BYE);
	ck_assert_uint_eq(ms.finished, 1);
	ck_assert_str_eq(body_of_last(), "Subject: hi\n\n.dot\nline\n");
	ck_assert_str_eq(buf_str(&ms.last_env), "from=<sender@remote.example> "
	    "to=<alice@example.org> notify=6 orcpt=rfc822;alice+40example.org "
	    "size=30 body=1 utf8=0 ret=0 proto=ESMTP helo=client.example");
}
END_TEST

START_TEST(test_received_header)
{
	const char *in = "HELO a(b);c\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\n";
	const char *m;

	run(in);
	ck_assert_uint_eq(ms.finished, 1);
	m = buf_str(&ms.last);
	ck_assert_msg(strncmp(m, "Received: from a_b__c (unknown "
	    "[192.0.2.7])\n\tby mx.example.org (posthorn) with SMTP\n\tid ",
	    83) == 0, "%s", m);
	ck_assert_ptr_nonnull(strstr(m, "\n\tfor <alice@example.org>; "));
	ck_assert_str_eq(body_of_last(), "x\n");
}
END_TEST

START_TEST(test_received_local)
{
	struct session *s = calloc(1, sizeof(*s));
	struct buf b = BUF_INIT;
	static const char want[] = "Received: from my.host (uid 1000)\n"
	    "\tby mx.example.org (posthorn) with ESMTP\n"
	    "\tid 00000000000000000043; ";

	/* sendmail -bs: the caller's uid, no address, no reverse name */
	ck_assert_ptr_nonnull(s);
	s->cfg = &cfg;
	s->mode = SMTPD_LOCAL;
	s->local_uid = 1000;
	envelope_init(&s->env);
	snprintf(s->helo, sizeof(s->helo), "my.host");
	snprintf(s->peer_ip, sizeof(s->peer_ip), "local");
	snprintf(s->id, sizeof(s->id), "00000000000000000043");
	s->esmtp = true;
	ck_assert_int_eq(received_header(s, 1795000000, &b), 0);
	ck_assert_msg(strncmp(buf_str(&b), want, strlen(want)) == 0, "%s",
	    buf_str(&b));
	buf_free(&b);
	envelope_free(&s->env);
	free(s);
}
END_TEST

#define EHLO_X \
	"250-mx.example.org Hello x [192.0.2.7]\r\n" \
	"250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n" \
	"250-ETRN\r\n250 CHUNKING\r\n"
#define DATA_GO "354 End data with <CR><LF>.<CR><LF>\r\n"
#define MAIL_OK "250 2.1.0 Ok\r\n"
#define RCPT_OK "250 2.1.5 Ok\r\n"
#define TXN "EHLO x\r\nMAIL FROM:<s@remote.example>\r\n" \
	"RCPT TO:<alice@example.org>\r\n"
#define TXN_OUT GREET EHLO_X MAIL_OK RCPT_OK

START_TEST(test_ipv6_and_blanks)
{
	ck_assert_str_eq(run_ip("2001:db8::1", "HELO x \t\r\nMAIL FROM:<> "
	    "\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\n"),
	    GREET "250 mx.example.org\r\n" MAIL_OK RCPT_OK DATA_GO QUEUED);
	ck_assert_msg(strncmp(buf_str(&ms.last), "Received: from x (unknown "
	    "[IPv6:2001:db8::1])\n", 45) == 0, "%s", buf_str(&ms.last));
}
END_TEST

START_TEST(test_received_sanitised)
{
	struct session *s = calloc(1, sizeof(*s));
	struct buf b = BUF_INIT;
	time_t t = 1795000000;
	static const char want[] = "Received: from x__X-Evil:_1 "
	    "(a.example__b____c [192.0.2.9])\n\tby mx.example.org (posthorn) "
	    "with ESMTPS (TLSv1.3:TLS_AES_128_GCM_SHA256)\n"
	    "\tid 00000000000000000042\n\tfor <a@example.org>; ";

	ck_assert_ptr_nonnull(s);
	s->cfg = &cfg;
	envelope_init(&s->env);
	/* names from the peer and from DNS cannot add a header or close the
	 * comment; TLS details and the protocol come from us */
	snprintf(s->helo, sizeof(s->helo), "x)\nX-Evil: 1");
	snprintf(s->peer_name, sizeof(s->peer_name), "a.example (b) ; c");
	snprintf(s->peer_ip, sizeof(s->peer_ip), "192.0.2.9");
	snprintf(s->id, sizeof(s->id), "00000000000000000042");
	s->esmtp = true;
	s->tls = true;
	snprintf(s->tls_info, sizeof(s->tls_info), "%s",
	    "TLSv1.3:TLS_AES_128_GCM_SHA256");
	ck_assert_int_eq(envelope_add_rcpt(&s->env, "a@example.org", 0, NULL),
	    0);
	ck_assert_int_eq(received_header(s, t, &b), 0);
	ck_assert_msg(strncmp(buf_str(&b), want, strlen(want)) == 0, "%s",
	    buf_str(&b));
	/* then only the date and the final LF */
	ck_assert_int_eq(strchr(buf_str(&b) + strlen(want), '\n') -
	    buf_str(&b), (long)b.len - 1);
	buf_free(&b);
	envelope_free(&s->env);
	free(s);
}
END_TEST

START_TEST(test_sequence_errors)
{
	ck_assert_str_eq(run("MAIL FROM:<a@b.example>\r\n"
	    "EHLO x\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
	    "MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n"
	    "DATA\r\nBDAT 3\r\nabcRSET x\r\nEHLO\r\nQUIT\r\n"),
	    GREET "503 5.5.1 Send HELO/EHLO first\r\n" EHLO_X
	    "503 5.5.1 Need MAIL command\r\n"
	    "503 5.5.1 Need MAIL command\r\n" MAIL_OK
	    "503 5.5.1 Nested MAIL command\r\n"
	    "503 5.5.1 Need RCPT command\r\n"
	    "554 5.5.1 No valid recipients\r\n"
	    "501 5.5.4 Syntax: RSET takes no arguments\r\n"
	    "501 5.5.4 Syntax: EHLO needs an argument\r\n" BYE);
	ck_assert_uint_eq(ms.open, 0);
}
END_TEST

START_TEST(test_framing_errors)
{
	char in[3000];
	const char *exp = GREET "500 5.5.2 Line too long\r\n"
	    "500 5.5.2 NUL octet in command\r\n"
	    "500 5.5.2 Command unrecognized\r\n"
	    "250 2.0.0 Ok\r\n" BYE;
	size_t n;

	memset(in, 'A', 999);
	memcpy(in + 999, "\r\n", 2);		/* 1001 octets: too long */
	n = 1001;
	memcpy(in + n, "NO\0OP\r\nXYZZY\r\nNOOP\r\nQUIT\r\n", 27);
	n += 27;
	ck_assert_str_eq(run_from(0, "192.0.2.7", in, n), exp);
	/* a bare LF or CR ends the session: what follows it on the line
	 * would otherwise run as a command of its own (smuggling past a
	 * front end that frames by CRLF) */
	ck_assert_str_eq(run_from(0, "192.0.2.7", "NOOP harmless\nRSET\r\n"
	    "QUIT\r\n", 26), GREET BARE_BYE);
	ck_assert_str_eq(run_from(0, "192.0.2.7", "NOOP\rVRFY x\r\nQUIT\r\n",
	    19), GREET BARE_BYE);
	/* exactly 1000 octets with CRLF is fine (an unknown command) */
	memset(in, 'A', 998);
	memcpy(in + 998, "\r\nQUIT\r\n", 8);
	ck_assert_str_eq(run_from(0, "192.0.2.7", in, 1006),
	    GREET "500 5.5.2 Command unrecognized\r\n" BYE);
}
END_TEST

/* The PTR name is kept only when it resolves back to the address. */
START_TEST(test_forward_confirmed_name)
{
	struct sockaddr_storage ss;

	ck_assert_int_eq(ip_parse("127.0.0.1", &ss), 0);
	ck_assert(smtpd_name_has_peer("localhost", &ss));
	ck_assert(!smtpd_name_has_peer("127.0.0.1", &ss));	/* a literal */
	ck_assert_int_eq(ip_parse("192.0.2.1", &ss), 0);
	ck_assert(!smtpd_name_has_peer("localhost", &ss));
}
END_TEST

START_TEST(test_normalize_commands)
{
	cfg.bare_newline = BARE_NEWLINE_NORMALIZE;
	ck_assert_str_eq(run("NOOP\nNOOP\rQUIT\n"),
	    GREET "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n" BYE);
}
END_TEST

START_TEST(test_simple_verbs)
{
	ck_assert_str_eq(run("VRFY alice\r\nEXPN staff\r\nHELP\r\nTURN\r\n"
	    "NOOP whatever\r\nnoop\r\nRSET\r\nVRFY\r\nQUIT\r\n"),
	    GREET "252 2.5.2 Cannot VRFY user, but will accept message and "
	    "attempt delivery\r\n502 5.5.1 EXPN not available\r\n"
	    "214 2.0.0 See RFC 5321 (posthorn)\r\n"
	    "502 5.5.1 TURN is unsafe and not available\r\n"
	    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "501 5.5.4 Syntax: VRFY needs an argument\r\n" BYE);
}
END_TEST

START_TEST(test_etrn)
{
	ck_assert_str_eq(run("ETRN relay.example\r\nEHLO x\r\n"
	    "ETRN relay.example\r\nETRN @relay.example\r\n"
	    "ETRN other.example\r\nETRN #queue\r\nETRN a..b\r\nQUIT\r\n"),
	    GREET "503 5.5.1 Send HELO/EHLO first\r\n" EHLO_X
	    "250 2.0.0 Queuing for node relay.example started\r\n"
	    "250 2.0.0 Queuing for node relay.example started\r\n"
	    "459 4.7.1 Node other.example not allowed\r\n"
	    "501 5.5.4 Syntax: ETRN domain\r\n"
	    "501 5.5.4 Syntax: ETRN domain\r\n" BYE);
	ck_assert_uint_eq(ms.flushed, 2);
	ms.fail_open = 1;
	ck_assert_str_eq(run("EHLO x\r\nETRN relay.example\r\n"),
	    GREET EHLO_X "458 4.3.0 Unable to queue messages for node "
	    "relay.example\r\n");
}
END_TEST

START_TEST(test_relay_control)
{
	const char *in = "EHLO x\r\nMAIL FROM:<s@remote.example>\r\n"
	    "RCPT TO:<victim@elsewhere.example>\r\n"
	    "RCPT TO:<nobody-here@example.org>\r\n"
	    "RCPT TO:<old@example.org>\r\n"
	    "RCPT TO:<victim@[192.0.2.99]>\r\n"
	    "RCPT TO:<x@relay.example>\r\n"
	    "RCPT TO:<alice@example.org>\r\n"
	    "RCPT TO:<alice@EXAMPLE.ORG>\r\n"
	    "RCPT TO:<postmaster>\r\n"
	    "RCPT TO:<someone>\r\nQUIT\r\n";

	/* outside relay_networks: no relaying */
	ck_assert_str_eq(run(in), GREET EHLO_X MAIL_OK
	    "554 5.7.1 Relay access denied\r\n"
	    "550 5.1.1 User unknown\r\n"
	    "551 5.1.6 user has moved; please try <new@example.net>\r\n"
	    "554 5.7.1 Relay access denied\r\n"
	    RCPT_OK RCPT_OK RCPT_OK
	    "452 4.5.3 Too many recipients\r\n"
	    "501 5.1.3 Recipient needs a domain\r\n" BYE);
	/* from 127.0.0.1 (relay_networks): relaying allowed */
	ck_assert_str_eq(run_ip("127.0.0.1", "HELO x\r\n"
	    "MAIL FROM:<s@a.example>\r\nRCPT TO:<v@elsewhere.example>\r\n"),
	    GREET "250 mx.example.org\r\n" MAIL_OK RCPT_OK);
	/* an unknown peer is not trusted */
	ck_assert_str_eq(run_ip(NULL, "HELO x\r\n"
	    "MAIL FROM:<s@a.example>\r\nRCPT TO:<v@elsewhere.example>\r\n"),
	    GREET "250 mx.example.org\r\n" MAIL_OK
	    "554 5.7.1 Relay access denied\r\n");
}
END_TEST

START_TEST(test_local_kinds)
{
	/* an alias forwarding off-host, a list, a system user, +ext */
	ck_assert_str_eq(run("HELO x\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<fwd@example.org>\r\nRCPT TO:<staff@example.org>\r\n"
	    "RCPT TO:<root@example.org>\r\nRCPT TO:<alice+tag@example.org>"
	    "\r\nRCPT TO:<nosuchuser+tag@example.org>\r\n"),
	    GREET "250 mx.example.org\r\n" MAIL_OK RCPT_OK RCPT_OK RCPT_OK
	    "452 4.5.3 Too many recipients\r\n"
	    "452 4.5.3 Too many recipients\r\n");
	cfg.max_recipients = 10;
	ck_assert_str_eq(run("HELO x\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<alice+tag@example.org>"
	    "\r\nRCPT TO:<nosuchuser+tag@example.org>\r\n"),
	    GREET "250 mx.example.org\r\n" MAIL_OK RCPT_OK
	    "550 5.1.1 User unknown\r\n");
}
END_TEST

START_TEST(test_postmaster)
{
	run("HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n"
	    "x\r\n.\r\n");
	ck_assert_uint_eq(ms.finished, 1);
	ck_assert_ptr_nonnull(strstr(buf_str(&ms.last_env),
	    "to=<Postmaster@example.org>"));
}
END_TEST

START_TEST(test_size_limits)
{
	struct buf in = BUF_INIT;

	ck_assert_str_eq(run("EHLO x\r\nMAIL FROM:<s@r.example> SIZE=10001\r\n"
	    "MAIL FROM:<s@r.example> SIZE=10000\r\n"),
	    GREET EHLO_X "552 5.3.4 Message size exceeds fixed limit\r\n"
	    MAIL_OK);
	buf_append_str(&in, TXN "DATA\r\n");
	for (int i = 0; i < 250; i++)
		buf_append_str(&in, "0123456789012345678901234567890123456789"
		    "01234567\r\n");
	buf_append_str(&in, ".\r\nQUIT\r\n");
	ck_assert_str_eq(run_from(0, "192.0.2.7", in.data, in.len),
	    TXN_OUT DATA_GO "552 5.3.4 Message size exceeds limit\r\n" BYE);
	ck_assert_uint_eq(ms.finished, 0);
	ck_assert_uint_eq(ms.aborted, 1);
	buf_free(&in);
}
END_TEST

START_TEST(test_smuggling)
{
	static const char *const seqs[] = {
		"\n.\n", "\r.\r\n", "\n.\r\n", "\r\n.\r", "\r\n.\n"
	};
	struct buf in = BUF_INIT;

	for (size_t i = 0; i < 5; i++) {
		memsink_free(&ms);
		memsink_init(&ms, &sink);
		buf_reset(&in);
		buf_append_str(&in, TXN "DATA\r\nSubject: one\r\n\r\nbody");
		buf_append_str(&in, seqs[i]);
		buf_append_str(&in, "MAIL FROM:<evil@remote.example>\r\n"
		    "RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: two\r\n"
		    "\r\nsmuggled\r\n.\r\nQUIT\r\n");
		ck_assert_msg(strcmp(run_from(0, "192.0.2.7", in.data,
		    in.len), TXN_OUT DATA_GO "550 5.5.2 Bare <CR> or <LF> "
		    "not allowed\r\n" BYE) == 0, "seq %zu: %s", i,
		    buf_str(&out));
		ck_assert_uint_eq(ms.finished, 0);
		ck_assert_uint_eq(ms.open, 1);
	}
	/* normalising: still one single message, containing both texts */
	cfg.bare_newline = BARE_NEWLINE_NORMALIZE;
	for (size_t i = 0; i < 5; i++) {
		memsink_free(&ms);
		memsink_init(&ms, &sink);
		buf_reset(&in);
		buf_append_str(&in, TXN "DATA\r\nSubject: one\r\n\r\nbody");
		buf_append_str(&in, seqs[i]);
		buf_append_str(&in, "MAIL FROM:<evil@remote.example>\r\n"
		    "RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: two\r\n"
		    "\r\nsmuggled\r\n.\r\nQUIT\r\n");
		ck_assert_msg(strcmp(run_from(0, "192.0.2.7", in.data,
		    in.len), TXN_OUT DATA_GO QUEUED BYE) == 0, "seq %zu: %s",
		    i, buf_str(&out));
		ck_assert_uint_eq(ms.finished, 1);
		ck_assert_ptr_nonnull(strstr(body_of_last(), "\nsmuggled\n"));
	}
	buf_free(&in);
}
END_TEST

/* A line too long for DATA is dropped, but how it ended still counts:
 * "\n.\r\n" after it is no end of data, in either bare_newline mode. */
START_TEST(test_smuggling_after_long_line)
{
	struct buf in = BUF_INIT;
	static const char *const want[] = {
		TXN_OUT DATA_GO "550 5.5.2 Bare <CR> or <LF> not allowed\r\n"
		    BYE,
		TXN_OUT DATA_GO "554 5.6.0 Message line too long\r\n" BYE
	};

	for (int mode = 0; mode < 2; mode++) {
		cfg.bare_newline = mode == 0 ? BARE_NEWLINE_REJECT :
		    BARE_NEWLINE_NORMALIZE;
		memsink_free(&ms);
		memsink_init(&ms, &sink);
		buf_reset(&in);
		buf_append_str(&in, TXN "DATA\r\nSubject: one\r\n\r\n");
		for (int i = 0; i < DATA_LINE_MAX; i++)
			buf_append(&in, "x", 1);
		buf_append_str(&in, "\n.\r\n"
		    "MAIL FROM:<evil@remote.example>\r\n"
		    "RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: two\r\n"
		    "\r\nsmuggled\r\n.\r\nQUIT\r\n");
		ck_assert_msg(strcmp(run_from(0, "192.0.2.7", in.data,
		    in.len), want[mode]) == 0, "mode %d: %s", mode,
		    buf_str(&out));
		ck_assert_uint_eq(ms.open, 1);
		ck_assert_uint_eq(ms.finished, 0);
	}
	buf_free(&in);
}
END_TEST

START_TEST(test_loop_guard)
{
	struct buf in = BUF_INIT;

	/* 99 and ours make 100; 100 and ours would be bounced */
	for (int n = 99; n <= 100; n++) {
		buf_reset(&in);
		buf_append_str(&in, TXN "DATA\r\n");
		for (int i = 0; i < n; i++)
			buf_append_str(&in, "Received: from x by y\r\n");
		buf_append_str(&in, "\r\nbody\r\n.\r\n");
		run_from(0, "192.0.2.7", in.data, in.len);
	}
	ck_assert_str_eq(buf_str(&out), TXN_OUT DATA_GO
	    "554 5.4.6 Too many Received headers: mail loop\r\n");
	ck_assert_uint_eq(ms.finished, 1);	/* the one with 99 */
	buf_free(&in);
}
END_TEST

START_TEST(test_nul_in_data)
{
	static const char in[] = TXN "DATA\r\na\0b\r\n.\r\nQUIT\r\n";

	ck_assert_str_eq(run_from(0, "192.0.2.7", in, sizeof(in) - 1),
	    TXN_OUT DATA_GO "554 5.6.0 NUL octet in message\r\n" BYE);
	ck_assert_uint_eq(ms.finished, 0);
}
END_TEST

START_TEST(test_eof_in_data)
{
	ck_assert_str_eq(run(TXN "DATA\r\nhalf a message\r\n"),
	    TXN_OUT DATA_GO);
	ck_assert_uint_eq(ms.finished, 0);
	ck_assert_uint_eq(ms.aborted, 1);
}
END_TEST

START_TEST(test_queue_failures)
{
	/* the queue cannot be reached, or the envelope not sent: known
	 * before the 354, refused at once */
	ms.fail_open = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nRSET\r\n"), TXN_OUT
	    "451 4.3.0 Queue unavailable\r\n250 2.0.0 Ok\r\n");
	ms.fail_open = 0;
	ms.fail_envelope = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nRSET\r\n"), TXN_OUT
	    "451 4.3.0 Queue unavailable\r\n250 2.0.0 Ok\r\n");
	ck_assert_str_eq(buf_str(&ms.trace), "open-failed open env-failed "
	    "abort");
	ms.fail_envelope = 0;
	ms.fail_finish = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nx\r\n.\r\n"), TXN_OUT DATA_GO
	    "452 4.3.1 Insufficient system storage\r\n");
	ms.fail_finish = 0;
	/* a write fails after the 354: the rest of the data is read and
	 * dropped, and the "." gets the refusal */
	ms.fail_write = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nx\r\nQUIT\r\n.\r\nNOOP\r\n"),
	    TXN_OUT DATA_GO "451 4.3.0 Queue write failed\r\n"
	    "250 2.0.0 Ok\r\n");
	ck_assert_uint_eq(ms.aborted, 2);
	ck_assert_uint_eq(ms.finished, 1);
}
END_TEST

/* The session sends the envelope, answers 354 without waiting, and asks
 * for the queue id only when the first octets (its Received header) go
 * out: after the whole of a small message was read. */
START_TEST(test_queue_id_waited_late)
{
	ck_assert_str_eq(run(TXN "DATA\r\nx\r\n.\r\n"), TXN_OUT DATA_GO
	    QUEUED);
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid write finish");
	/* an empty message still gets its Received header */
	buf_reset(&ms.trace);
	ck_assert_str_eq(run(TXN "DATA\r\n.\r\n"), TXN_OUT DATA_GO QUEUED);
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid write finish");
	ck_assert_str_eq(body_of_last(), "");
	/* BDAT: the same, at the first chunk */
	buf_reset(&ms.trace);
	ck_assert_str_eq(run(TXN "BDAT 3\r\nx\r\nBDAT 0 LAST\r\n"), TXN_OUT
	    "250 2.0.0 3 octets received\r\n" QUEUED);
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid write finish");
	ck_assert_str_eq(body_of_last(), "x\n");
}
END_TEST

/* The queue goes away after the 354 (no id comes): the data is read and
 * dropped, "." gets the 451 the early path gave, never a 250, and the
 * session goes on. */
START_TEST(test_queue_lost_after_354)
{
	struct buf in = BUF_INIT;
	char big[40000];

	ms.fail_qid = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nx\r\n.\r\nRSET\r\nQUIT\r\n"),
	    TXN_OUT DATA_GO "451 4.3.0 Queue unavailable\r\n"
	    "250 2.0.0 Ok\r\n" BYE);
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid-failed abort");
	ck_assert_uint_eq(ms.finished, 0);
	/* more than the scanner buffers: the failure comes in the middle */
	buf_reset(&ms.trace);
	memset(big, 'y', sizeof(big));
	for (size_t i = 70; i < sizeof(big); i += 72)
		big[i - 1] = '\r', big[i] = '\n';
	buf_append_str(&in, TXN "DATA\r\n");
	buf_append(&in, big, sizeof(big));
	buf_append_str(&in, "\r\n.\r\nMAIL FROM:<>\r\n");
	cfg.max_message_size = 100000;
	ck_assert_str_eq(run_from(0, "192.0.2.7", in.data, in.len), GREET
	    "250-mx.example.org Hello x [192.0.2.7]\r\n"
	    "250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n"
	    "250-ETRN\r\n250 CHUNKING\r\n" MAIL_OK RCPT_OK
	    DATA_GO "451 4.3.0 Queue unavailable\r\n" MAIL_OK);
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid-failed abort");
	cfg.max_message_size = 10000;
	/* a content refusal still wins (it is permanent) */
	ck_assert_str_eq(run(TXN "DATA\r\nbare\nLF\r\n.\r\n"), TXN_OUT
	    DATA_GO "550 5.5.2 Bare <CR> or <LF> not allowed\r\n");
	/* BDAT: a small chunk is only buffered; the last one is refused */
	ck_assert_str_eq(run(TXN "BDAT 3\r\nabcBDAT 1 LAST\r\nxNOOP\r\n"),
	    TXN_OUT "250 2.0.0 3 octets received\r\n"
	    "451 4.3.0 Queue unavailable\r\n250 2.0.0 Ok\r\n");
	/* a chunk larger than the scanner's buffer: refused at once */
	buf_reset(&in);
	buf_append_str(&in, TXN "BDAT 40000\r\n");
	buf_append(&in, big, sizeof(big));
	buf_append_str(&in, "BDAT 1 LAST\r\nxNOOP\r\n");
	cfg.max_message_size = 100000;
	ck_assert_str_eq(run_from(0, "192.0.2.7", in.data, in.len), GREET
	    "250-mx.example.org Hello x [192.0.2.7]\r\n"
	    "250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-DSN\r\n"
	    "250-ETRN\r\n250 CHUNKING\r\n" MAIL_OK RCPT_OK
	    "451 4.3.0 Queue unavailable\r\n"
	    "503 5.5.1 Need MAIL command\r\n250 2.0.0 Ok\r\n");
	ck_assert_uint_eq(ms.finished, 0);
	buf_free(&in);
}
END_TEST

/* The queue refuses the envelope (no id, e.g. too many recipients): its
 * own verdict comes after the data. */
START_TEST(test_queue_refuses_envelope)
{
	ms.refuse = 1;
	ck_assert_str_eq(run(TXN "DATA\r\nx\r\n.\r\nNOOP\r\n"), TXN_OUT
	    DATA_GO "452 4.5.3 too many recipients\r\n250 2.0.0 Ok\r\n");
	ck_assert_str_eq(buf_str(&ms.trace), "open env qid write finish");
}
END_TEST

START_TEST(test_two_messages_pipelined)
{
	ck_assert_str_eq(run(TXN "DATA\r\none\r\n.\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
	    "two\r\n.\r\nQUIT\r\n"),
	    TXN_OUT DATA_GO QUEUED MAIL_OK RCPT_OK DATA_GO QUEUED BYE);
	ck_assert_uint_eq(ms.finished, 2);
	ck_assert_str_eq(body_of_last(), "two\n");
	ck_assert_str_eq(buf_str(&ms.last_env), "from=<> to=<bob@example.org> "
	    "size=0 body=0 utf8=0 ret=0 proto=ESMTP helo=x");
}
END_TEST

START_TEST(test_bdat)
{
	ck_assert_str_eq(run(TXN "BDAT 10\r\nSubject: xBDAT 9 LAST\r\n"
	    "\r\n.a\r\nb\r\nQUIT\r\n"), TXN_OUT
	    "250 2.0.0 10 octets received\r\n" QUEUED BYE);
	ck_assert_str_eq(body_of_last(), "Subject: x\n.a\nb\n");
	/* DATA not allowed once BDAT started; the transaction is over */
	ck_assert_str_eq(run(TXN "BDAT 1\r\nxDATA\r\nBDAT 0 LAST\r\n"),
	    TXN_OUT "250 2.0.0 1 octets received\r\n"
	    "503 5.5.1 Only BDAT allowed now\r\n"
	    "503 5.5.1 Need MAIL command\r\n");
	/* BDAT before HELO consumes its octets; a BDAT whose size cannot
	 * be read closes (its octets would be read as commands); one with
	 * a size and bad arguments skips its chunk */
	ck_assert_str_eq(run("BDAT 4\r\nQUITBDAT x\r\nQUIT\r\n"), GREET
	    "503 5.5.1 Send HELO/EHLO first\r\n"
	    "421 4.5.4 Syntax: BDAT size [LAST]; the chunk's end is unknown, "
	    "closing connection\r\n");
	ck_assert_str_eq(run("BDAT 4 LASTX\r\nQUITQUIT\r\n"), GREET
	    "501 5.5.4 Syntax: BDAT size [LAST]\r\n" BYE);
	/* too big: refused at the chunk, the rest is still read */
	ck_assert_uint_eq(ms.aborted, 1);	/* the DATA inside BDAT */
	ck_assert_str_eq(run(TXN "BDAT 10001\r\n"), TXN_OUT);
	ck_assert_uint_eq(ms.aborted, 2);	/* EOF inside the chunk */
}
END_TEST

START_TEST(test_bdat_too_big)
{
	struct buf in = BUF_INIT;
	char big[10001];

	memset(big, 'x', sizeof(big));
	buf_append_str(&in, TXN "BDAT 10001\r\n");
	buf_append(&in, big, sizeof(big));
	buf_append_str(&in, "BDAT 2 LAST\r\nxxNOOP\r\n");
	ck_assert_str_eq(run_from(0, "192.0.2.7", in.data, in.len), TXN_OUT
	    "552 5.3.4 Message size exceeds limit\r\n"
	    "503 5.5.1 Need MAIL command\r\n250 2.0.0 Ok\r\n");
	ck_assert_uint_eq(ms.finished, 0);
	buf_free(&in);
}
END_TEST

START_TEST(test_max_errors)
{
	struct buf in = BUF_INIT, exp = BUF_INIT;

	cfg.smtp_max_errors = 3;
	buf_append_str(&exp, GREET);
	for (int i = 0; i < 5; i++)
		buf_append_str(&in, "BOGUS\r\n");
	for (int i = 0; i < 3; i++)
		buf_append_str(&exp, "500 5.5.2 Command unrecognized\r\n");
	buf_append_str(&exp, "421 4.7.0 mx.example.org Too many errors, "
	    "closing connection\r\n");
	ck_assert_str_eq(run(in.data), exp.data);
	/* 452 4.5.3 does not count; an accepted message resets the count */
	buf_reset(&in);
	buf_reset(&exp);
	buf_append_str(&in, TXN "BOGUS\r\nBOGUS\r\n");
	buf_append_str(&exp, TXN_OUT "500 5.5.2 Command unrecognized\r\n"
	    "500 5.5.2 Command unrecognized\r\n");
	for (int i = 0; i < 5; i++) {
		buf_append_str(&in, "RCPT TO:<alice@example.org>\r\n");
		buf_append_str(&exp, i < 2 ? RCPT_OK :
		    "452 4.5.3 Too many recipients\r\n");
	}
	buf_append_str(&in, "DATA\r\nx\r\n.\r\nBOGUS\r\nBOGUS\r\n"
	    "NOOP\r\nBOGUS\r\n");
	buf_append_str(&exp, DATA_GO QUEUED
	    "500 5.5.2 Command unrecognized\r\n"
	    "500 5.5.2 Command unrecognized\r\n" "250 2.0.0 Ok\r\n"
	    "500 5.5.2 Command unrecognized\r\n"
	    "421 4.7.0 mx.example.org Too many errors, "
	    "closing connection\r\n");
	ck_assert_str_eq(run(in.data), exp.data);
	buf_free(&in);
	buf_free(&exp);
}
END_TEST

START_TEST(test_submission_requires_auth)
{
	static const char in[] = "EHLO x\r\nMAIL FROM:<a@example.org>\r\n"
	    "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";

	ck_assert_str_eq(run_from(SMTPD_SUBMISSION, "192.0.2.7", in,
	    sizeof(in) - 1), GREET EHLO_X
	    "530 5.7.0 Authentication required\r\n"
	    "538 5.7.11 Encryption required for requested authentication "
	    "mechanism\r\n");
	/* on port 25 AUTH does not exist */
	ck_assert_str_eq(run("EHLO x\r\nAUTH PLAIN\r\nSTARTTLS\r\n"),
	    GREET EHLO_X "502 5.5.1 AUTH not available\r\n"
	    "502 5.5.1 STARTTLS not available\r\n");
}
END_TEST

#define SUB (SMTPD_SUBMISSION | MEMSINK_FAKE_TLS)
#define EHLO_AUTH \
	"250-mx.example.org Hello x [192.0.2.7]\r\n" \
	"250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n" \
	"250-SMTPUTF8\r\n250-DSN\r\n250-ETRN\r\n250 CHUNKING\r\n"
#define AUTH_BAD "535 5.7.8 Authentication credentials invalid\r\n"
#define AUTH_OK "235 2.7.0 Authentication successful\r\n"

static const char *
run_sub(const char *in)
{
	return run_from(SUB, "192.0.2.7", in, strlen(in));
}

START_TEST(test_auth_plain)
{
	/* base64 of "\0alice\0secret", "\0alice\0wrong", "\0alice\0tempfail",
	 * "bob\0alice\0secret", "\0alice" */
	ck_assert_str_eq(run_sub("EHLO x\r\n"
	    "AUTH PLAIN AGFsaWNlAHdyb25n\r\n"
	    "AUTH PLAIN AGFsaWNlAHRlbXBmYWls\r\n"
	    "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==\r\n"
	    "AUTH PLAIN AGFsaWNl\r\n"
	    "AUTH PLAIN %%%%\r\n"
	    "AUTH PLAIN a b\r\n"
	    "AUTH GSSAPI\r\n"
	    "AUTH PLAIN\r\n*\r\n"
	    "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n"
	    "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
	    "MAIL FROM:<alice@example.org>\r\n"
	    "RCPT TO:<x@elsewhere.example>\r\nDATA\r\nhi\r\n.\r\n"),
	    GREET EHLO_AUTH AUTH_BAD
	    "454 4.7.0 Temporary authentication failure\r\n"
	    "501 5.5.2 Malformed PLAIN response\r\n"
	    "501 5.5.2 Malformed PLAIN response\r\n"
	    "501 5.5.2 Invalid base64 data\r\n"
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	    "504 5.5.4 Unrecognized authentication type\r\n"
	    "334 \r\n501 5.0.0 Authentication cancelled\r\n"
	    "334 \r\n" AUTH_OK
	    "503 5.5.1 Already authenticated\r\n"
	    MAIL_OK RCPT_OK DATA_GO QUEUED);
	ck_assert_str_eq(buf_str(&ms.last_env), "from=<alice@example.org> "
	    "to=<x@elsewhere.example> size=0 body=0 utf8=0 ret=0 auth=alice "
	    "proto=ESMTPSA helo=x");
	ck_assert_ptr_nonnull(strstr(buf_str(&ms.last),
	    " with ESMTPSA (TLSv1.3:FAKE)\n"));
}
END_TEST

START_TEST(test_auth_login)
{
	/* "alice" = YWxpY2U=, "secret" = c2VjcmV0 */
	ck_assert_str_eq(run_sub("EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\n"
	    "c2VjcmV0\r\nQUIT\r\n"), GREET EHLO_AUTH
	    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n" AUTH_OK BYE);
	ck_assert_str_eq(run_sub("EHLO x\r\nAUTH LOGIN YWxpY2U=\r\n"
	    "d3Jvbmc=\r\nAUTH login =\r\nc2VjcmV0\r\n"
	    "AUTH LOGIN\r\nYWxpY2U=\r\n*\r\n"), GREET EHLO_AUTH
	    "334 UGFzc3dvcmQ6\r\n" AUTH_BAD "334 UGFzc3dvcmQ6\r\n" AUTH_BAD
	    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	    "501 5.0.0 Authentication cancelled\r\n");
	/* bare LF inside the exchange; EOF inside the exchange */
	ck_assert_str_eq(run_sub("EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\n"
	    "QUIT\r\n"), GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n" BARE_BYE);
	ck_assert_str_eq(run_sub("EHLO x\r\nAUTH LOGIN\r\nYWxp"),
	    GREET EHLO_AUTH "334 VXNlcm5hbWU6\r\n");
}
END_TEST

START_TEST(test_auth_state)
{
	/* AUTH needs EHLO; not inside a transaction; MAIL needs AUTH */
	ck_assert_str_eq(run_sub("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
	    "EHLO x\r\nMAIL FROM:<a@example.org>\r\n"), GREET
	    "503 5.5.1 Send HELO/EHLO first\r\n" EHLO_AUTH
	    "530 5.7.0 Authentication required\r\n");
	cfg.smtp_max_errors = 3;
	ck_assert_str_eq(run_sub("EHLO x\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n"
	    "AUTH PLAIN AGFsaWNlAHdyb25n\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n"
	    "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), GREET EHLO_AUTH
	    AUTH_BAD AUTH_BAD AUTH_BAD "421 4.7.0 mx.example.org Too many "
	    "errors, closing connection\r\n");
}
END_TEST

START_TEST(test_smtputf8)
{
	ck_assert_str_eq(run("EHLO x\r\nMAIL FROM:<j\xc3\xb6rg@r.example>\r\n"
	    "MAIL FROM:<j\xc3\xb6rg@r.example> SMTPUTF8\r\n"
	    "RCPT TO:<b\xc3\xb6" "b@elsewhere.example>\r\n"
	    "RCPT TO:<alice@example.org>\r\nDATA\r\nx\r\n.\r\n"), GREET EHLO_X
	    "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n" MAIL_OK
	    "554 5.7.1 Relay access denied\r\n" RCPT_OK DATA_GO QUEUED);
	ck_assert_ptr_nonnull(strstr(buf_str(&ms.last_env), " utf8=1 "));
}
END_TEST

START_TEST(test_helo_mail_params)
{
	ck_assert_str_eq(run("HELO x\r\nMAIL FROM:<a@b.example> SIZE=10\r\n"),
	    GREET "250 mx.example.org\r\n"
	    "555 5.5.4 Parameters need EHLO\r\n");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("smtpd_session");
	TCase *tc = tcase_create("session");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_greeting_ehlo_quit);
	tcase_add_test(tc, test_simple_message);
	tcase_add_test(tc, test_received_header);
	tcase_add_test(tc, test_received_local);
	tcase_add_test(tc, test_ipv6_and_blanks);
	tcase_add_test(tc, test_received_sanitised);
	tcase_add_test(tc, test_sequence_errors);
	tcase_add_test(tc, test_framing_errors);
	tcase_add_test(tc, test_normalize_commands);
	tcase_add_test(tc, test_forward_confirmed_name);
	tcase_add_test(tc, test_simple_verbs);
	tcase_add_test(tc, test_etrn);
	tcase_add_test(tc, test_relay_control);
	tcase_add_test(tc, test_local_kinds);
	tcase_add_test(tc, test_postmaster);
	tcase_add_test(tc, test_size_limits);
	tcase_add_test(tc, test_smuggling);
	tcase_add_test(tc, test_smuggling_after_long_line);
	tcase_add_test(tc, test_loop_guard);
	tcase_add_test(tc, test_nul_in_data);
	tcase_add_test(tc, test_eof_in_data);
	tcase_add_test(tc, test_queue_failures);
	tcase_add_test(tc, test_queue_id_waited_late);
	tcase_add_test(tc, test_queue_lost_after_354);
	tcase_add_test(tc, test_queue_refuses_envelope);
	tcase_add_test(tc, test_two_messages_pipelined);
	tcase_add_test(tc, test_bdat);
	tcase_add_test(tc, test_bdat_too_big);
	tcase_add_test(tc, test_max_errors);
	tcase_add_test(tc, test_submission_requires_auth);
	tcase_add_test(tc, test_smtputf8);
	tcase_add_test(tc, test_auth_plain);
	tcase_add_test(tc, test_auth_login);
	tcase_add_test(tc, test_auth_state);
	tcase_add_test(tc, test_helo_mail_params);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
