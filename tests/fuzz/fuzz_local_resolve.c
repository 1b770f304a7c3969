/*
 * fuzz_local_resolve.c — local_resolve() and local_relocated() on hostile
 * recipients (what posthorn-smtpd passes at RCPT and the spawner gets
 * from the scheduler), against small fixed tables.  Checks: no crash or
 * leak; a found recipient has a kind, a NUL-terminated key and extension
 * that are no longer than the local part; a system user is only ever
 * looked up under a portable name; an extension is only reported when
 * the delimiter is in the input; the key that matched never holds '@'
 * (a quoted "x@y" local part must not reach full-address keys).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/localuser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct local_tables tabs;
static int ready;

static void
setup(void)
{
	static const char mb[] = "box@example.org /var/mail/box/\n"
	    "carol /srv/mail/carol.mbox\n";
	static const char al[] = "team: a, b\npostmaster: root\n";
	static const char rl[] = "old@example.org new@example.net\n"
	    "@gone.example x@example.net\n";
	struct buf err = BUF_INIT;

	cfg.recipient_delimiter = '+';
	cfg.local_case_insensitive = true;
	if (table_parse("mailboxes", mb, sizeof(mb) - 1, TABLE_SPACE,
	    &tabs.mailboxes, &err) != 0 ||
	    table_parse("aliases", al, sizeof(al) - 1, TABLE_ALIASES,
	    &tabs.aliases, &err) != 0 ||
	    table_parse("relocated", rl, sizeof(rl) - 1, TABLE_SPACE,
	    &tabs.relocated, &err) != 0)
		abort();
	buf_free(&err);
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct local_target t;
	struct buf err = BUF_INIT;
	char *rcpt;
	size_t i;
	int rc;

	if (!ready)
		setup();
	if (size > 600)
		return 0;
	rcpt = malloc(size + 1);
	if (rcpt == NULL)
		return 0;
	memcpy(rcpt, data, size);
	rcpt[size] = '\0';
	cfg.local_case_insensitive = size > 0 && (data[0] & 1);
	rc = local_resolve(&cfg, &tabs, rcpt, &t, &err);
	if (rc == 1) {
		if (t.kind == LOCAL_NONE ||
		    strnlen(t.user, sizeof(t.user)) >= sizeof(t.user) ||
		    strnlen(t.ext, sizeof(t.ext)) >= sizeof(t.ext))
			abort();
		if (t.ext[0] != '\0' && strchr(rcpt, '+') == NULL)
			abort();
		/* a local part holding '@' matches no key */
		if (strchr(t.user, '@') != NULL)
			abort();
		if (t.kind == LOCAL_USER)
			for (i = 0; t.user[i] != '\0'; i++)
				if (strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
				    t.user[i]) == NULL)
					abort();
		if (t.kind == LOCAL_MAILBOX && t.path == NULL)
			abort();
		if (t.kind == LOCAL_ALIAS && t.value == NULL)
			abort();
	} else if (rc == 0 && t.kind != LOCAL_NONE)
		abort();
	(void)local_relocated(&tabs, rcpt);
	buf_free(&err);
	free(rcpt);
	return 0;
}
