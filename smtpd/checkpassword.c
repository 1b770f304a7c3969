/*
 * checkpassword.c — posthorn-checkpassword: the checkpassword interface
 * (qmail's, also used by Dovecot's and others' verifiers) over the
 * crypt(3)-hashed passwd table of the configuration ("name:hash" lines).
 *
 *   posthorn-checkpassword prog [args...]
 *
 * Reads "user\0password\0timestamp\0" (at most 512 octets) from fd 3.
 * Good credentials: execs prog with its args.  Bad credentials (unknown
 * user, locked or malformed hash, wrong password): exit 1.  Temporary
 * trouble (unreadable configuration or table, bad input framing): 111.
 * Trusts the configuration; the input comes from posthorn-smtpd but is
 * the peer's, so it is parsed with checked lengths.  The password is
 * never logged and is wiped before exec.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/config.h"
#include "common/io.h"
#include "common/log.h"
#include "common/table.h"

#define INPUT_MAX	512
/* Hashed for unknown users in a table without a usable hash. */
#define DUMMY_HASH "$6$posthorn$wIrHdJX8SgVSb/9R2o9N0v5ZkFKmBP3Zb1qv/nbAE" \
	"Gg1.Ch4vJ8Em3UEo0ORy9KMCP6XNfKNeH3djzqpmxQ3e/"

static char input[INPUT_MAX + 1];

/* Split the input into its three NUL-terminated fields. */
static int
parse_input(size_t n, const char **user, const char **pass)
{
	const char *end = input + n, *p = input, *f[3];

	for (int i = 0; i < 3; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (z == NULL)
			return -1;
		f[i] = p;
		p = z + 1;
	}
	*user = f[0];
	*pass = f[1];
	return 0;
}

static int
equal_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* What an unknown user's password is hashed against, so that it costs
 * as much time as a known user's: a hash of the table (the same
 * algorithm and cost; a fixed SHA-512 one would answer in a millisecond
 * where a yescrypt or many-rounds hash takes a tenth of a second, and
 * tell which names exist).  Never a match: the user is unknown. */
static const char *
dummy_hash(const struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].value[0] == '$')
			return t->v[i].value;
	return DUMMY_HASH;
}

/* 1 good, 0 bad, -1 temporary. */
static int
verify(const char *user, const char *pass)
{
	static struct config cfg;
	struct table t = { NULL, 0, NULL };
	struct buf err = BUF_INIT;
	const struct table_entry *e;
	struct crypt_data *cd;
	const char *hash, *h;
	int ok;

	if (config_load(config_dir(NULL), &cfg, &err) != 0 ||
	    table_load(cfg.passwd, TABLE_COLON, &t, &err) != 0) {
		log_msg(LOG_ERR, "config_failed", "reason", buf_str(&err),
		    (char *)NULL);
		buf_free(&err);
		return -1;
	}
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return -1;
	e = table_lookup(&t, user);
	hash = e != NULL ? e->value : dummy_hash(&t);
	h = crypt_r(pass, hash, cd);
	ok = e != NULL && h != NULL && h[0] != '*' && hash[0] != '!' &&
	    hash[0] != '*' && hash[0] != '\0' && equal_ct(h, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	if (!ok)
		log_msg(LOG_NOTICE, "auth_rejected", "user", user,
		    (char *)NULL);
	table_free(&t);
	config_free(&cfg);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *user, *pass;
	ssize_t n;
	int r;

	log_init("posthorn-checkpassword");
	/* not dumpable: another process of the same uid (every SMTP
	 * session, which must not read another client's password) can
	 * neither ptrace this one nor read its memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		die(111, "prctl", strerror(errno));
	if (argc < 2) {
		fprintf(stderr, "usage: posthorn-checkpassword prog "
		    "[args...]\n");
		return 2;
	}
	n = io_read_full(3, input, INPUT_MAX, 30000);
	close(3);
	if (n <= 0 || parse_input((size_t)n, &user, &pass) != 0)
		return 111;
	r = user[0] == '\0' ? 0 : verify(user, pass);
	explicit_bzero(input, sizeof(input));
	if (r < 0)
		return 111;
	if (r == 0)
		return 1;
	execvp(argv[1], argv + 1);
	log_msg(LOG_ERR, "exec_failed", "program", argv[1], "reason",
	    strerror(errno), (char *)NULL);
	return 111;
}
