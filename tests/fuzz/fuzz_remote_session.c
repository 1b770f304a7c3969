/*
 * fuzz_remote_session.c — the SMTP/LMTP client (remote/smtp.c) against a
 * hostile peer: the input (after one flag octet) is everything the peer
 * says, queued in a socketpair before the client starts; the client runs
 * the greeting, EHLO/LHLO, a pipelined or plain transaction for three
 * recipients and QUIT.  Checks: no crash or over-read, every recipient
 * gets a result whose status matches its enhanced code's class, and all
 * kept text is printable.
 *   flag bit 0: LMTP; bit 1: 8-bit body; bit 2: null sender.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/envelope.h"
#include "remote/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			abort();
}

static void
check(const struct rres *x)
{
	char cls;

	if (x->status != 'D' && x->status != 'P' && x->status != 'T')
		abort();
	cls = x->status == 'D' ? '2' : x->status == 'P' ? '5' : '4';
	/* a 'T' carrying a 5xx code would be rewritten by deliver.c, but
	 * smtp.c itself must never mix them up */
	if (x->dsn[0] != cls)
		abort();
	check_text(x->text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char body[] = "Subject: x\n\n.dot\nbody\n";
	static const char body8[] = "Subject: x\n\ncaf\xc3\xa9\n";
	struct smtp_params p;
	struct smtp_conn c;
	struct envelope env;
	struct body_info info;
	struct rres res[3];
	bool todo[3] = { true, true, true };
	int sv[2], msgfd;
	unsigned flags;
	size_t i;

	if (size < 1 || size > 100000)
		return 0;
	flags = data[0];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	msgfd = memfd_create("msg", MFD_CLOEXEC);
	if (flags & 2)
		(void)!write(msgfd, body8, sizeof(body8) - 1);
	else
		(void)!write(msgfd, body, sizeof(body) - 1);
	(void)!write(msgfd, "TRAILER\n", 8);	/* never sent */
	envelope_init(&env);
	if (envelope_set_sender(&env, flags & 4 ? "" : "a@b.example") < 0 ||
	    envelope_add_rcpt(&env, "x@y.example", 0, NULL) < 0 ||
	    envelope_add_rcpt(&env, "z@y.example", NOTIFY_FAILURE,
	    "rfc822;z@y.example") < 0 ||
	    envelope_add_rcpt(&env, "w@y.example", 0, NULL) < 0)
		abort();
	memset(&p, 0, sizeof(p));
	p.helo = "client.example";
	p.lmtp = flags & 1;
	p.tls = SMTP_TLS_NONE;
	p.connect_ms = p.cmd_ms = p.data_init_ms = p.data_block_ms =
	    p.data_end_ms = 2000;
	memset(res, 0, sizeof(res));
	if (smtp_start(&c, sv[0], "peer.example", "peer.example[192.0.2.1]:25",
	    &p) == 0) {
		if (body_scan(msgfd, flags & 2 ? sizeof(body8) - 1 :
		    sizeof(body) - 1, &info) == 0) {
			(void)smtp_transaction(&c, &env, todo, msgfd, &info,
			    res);
			for (i = 0; i < 3; i++)
				check(&res[i]);
		}
		smtp_quit(&c);
	} else
		check_text(c.err.text);
	close(sv[1]);
	close(msgfd);
	envelope_free(&env);
	return 0;
}
