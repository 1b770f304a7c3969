/*
 * fuzz_smtpd_session.c — libFuzzer target over the whole smtpd session:
 * input octets are what a client sends, the session runs over memory
 * files with the in-memory sink (session_memory), its replies are
 * discarded.  The first octet picks the mode: bit 0 submission, bit 1 a
 * relay_networks client, bit 2 bare_newline = normalize, bit 3 a queue
 * that refuses to open, bit 4 one that fails at the end, bit 5 a session
 * that is (pretends to be) inside TLS, so AUTH is reachable, bit 6 a
 * queue that goes away before naming an id, bit 7 one that refuses the
 * envelope.  Any crash, leak, hang or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/table.h"
#include "smtpd/memsink.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct local_tables tables;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char mbox[] = "alice /tmp/\n";
	static const char reloc[] = "old@example.org new@example.net\n";
	struct buf err = BUF_INIT;

	(void)argc;
	(void)argv;
	if (config_load("/nonexistent/posthorn-fuzz", &cfg, &err) != 0)
		abort();
	free(cfg.hostname);
	cfg.hostname = strdup("mx.example.org");
	strlist_free(&cfg.local_domains);
	strlist_add(&cfg.local_domains, "example.org");
	strlist_add(&cfg.relay_domains, "relay.example");
	cfg.max_message_size = 100000;
	cfg.max_recipients = 20;
	cfg.reverse_dns = false;
	if (table_parse("mailboxes", mbox, strlen(mbox), TABLE_SPACE,
	    &tables.mailboxes, &err) != 0 ||
	    table_parse("relocated", reloc, strlen(reloc), TABLE_SPACE,
	    &tables.relocated, &err) != 0)
		abort();
	buf_free(&err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memsink ms;
	struct smtpd_sink sink;
	struct buf out = BUF_INIT;
	unsigned mode, flags;

	if (size < 1)
		return 0;
	flags = data[0];
	mode = (flags & 1) ? SMTPD_SUBMISSION : 0;
	if (flags & 32)
		mode |= MEMSINK_FAKE_TLS;
	cfg.bare_newline = (flags & 4) ? BARE_NEWLINE_NORMALIZE :
	    BARE_NEWLINE_REJECT;
	memsink_init(&ms, &sink);
	ms.fail_open = (flags & 8) != 0;
	ms.fail_finish = (flags & 16) != 0;
	ms.fail_qid = (flags & 64) != 0;
	ms.refuse = (flags & 128) != 0;
	(void)session_memory(&cfg, &tables, &sink, mode,
	    (flags & 2) ? "127.0.0.1" : "192.0.2.1", data + 1, size - 1,
	    &out);
	memsink_free(&ms);
	buf_free(&out);
	return 0;
}
