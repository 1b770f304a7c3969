/*
 * main.c — posthorn-smtpd: one SMTP session on fd 0/1, or an accept loop
 * over sockets passed with LISTEN_FDS.  See posthorn-smtpd(8).
 *
 *   posthorn-smtpd [-C dir] [-v] [--submission | --smtps | --local]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/config.h"
#include "common/log.h"
#include "smtpd/smtpd.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: posthorn-smtpd [-C dir] [-v] "
	    "[--submission | --smtps | --local]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned mode = 0;

	log_init("posthorn-smtpd");
	/* not dumpable: another process of the same uid (every other
	 * session, with its mail and passwords) can
	 * neither ptrace this one nor read its memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		die(111, "prctl", strerror(errno));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			log_set_verbose(1);
		else if (strcmp(argv[i], "--submission") == 0)
			mode |= SMTPD_SUBMISSION;
		else if (strcmp(argv[i], "--local") == 0)
			/* sendmail -bs: the caller's own session */
			mode |= SMTPD_LOCAL;
		else if (strcmp(argv[i], "--smtps") == 0)
			/* RFC 8314: port 465 is submission over TLS */
			mode |= SMTPD_SMTPS | SMTPD_SUBMISSION;
		else
			usage();
	}
	if ((mode & SMTPD_LOCAL) && (mode & ~SMTPD_LOCAL))
		usage();
	return smtpd_serve(config_dir(dir), mode);
}
