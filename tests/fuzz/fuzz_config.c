/*
 * fuzz_config.c — posthorn.conf parsing (common/config.c, config_parse())
 * on arbitrary octets.  Oracles: a failure always explains itself as
 * "mem.conf..." with printable text only; a success yields the invariants
 * the programs rely on (hostname set, non-zero limits, retry_min <=
 * retry_max, TLS files paired, no control character in the spool and
 * aliases paths).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	size_t i;

	if (size > 65536)
		return 0;
	setenv("POSTHORN_LIBEXEC", "/fuzz/libexec", 1);
	if (config_parse("/fuzz", "mem.conf", (const char *)data, size, &cfg,
	    &err) == 0) {
		if (cfg.hostname == NULL || cfg.max_recipients == 0 ||
		    cfg.smtp_timeout == 0 || cfg.retry_min > cfg.retry_max ||
		    (cfg.tls_cert == NULL) != (cfg.tls_key == NULL) ||
		    cfg.spool == NULL || cfg.spool[0] != '/' ||
		    cfg.checkpassword == NULL)
			abort();
		/* no control character reaches a value */
		for (i = 0; cfg.spool[i] != '\0'; i++)
			if ((unsigned char)cfg.spool[i] < 0x20 ||
			    cfg.spool[i] == 0x7f)
				abort();
		for (i = 0; cfg.aliases != NULL && cfg.aliases[i] != '\0';
		    i++)
			if ((unsigned char)cfg.aliases[i] < 0x20 ||
			    cfg.aliases[i] == 0x7f)
				abort();
		config_free(&cfg);
	} else {
		if (strncmp(buf_str(&err), "mem.conf", 8) != 0)
			abort();
		for (i = 0; i < err.len; i++)
			if ((unsigned char)err.data[i] < 0x20 ||
			    (unsigned char)err.data[i] > 0x7e)
				abort();
	}
	buf_free(&err);
	return 0;
}
