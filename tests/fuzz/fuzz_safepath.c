/*
 * fuzz_safepath.c — common/safepath.c on hostile paths.  The input (up to
 * its first NUL) is appended to a small private tree in /tmp that holds a
 * directory, relative and absolute symbolic links, a link loop, a link
 * to ".." and a file; the first octet picks the uid (root or another) and
 * whether the last component is resolved.  Oracles: a success names an
 * absolute path without ".", ".." or empty components that fits the
 * buffer; a refusal (-2) says why; nothing is created or changed.  The
 * tree is removed at exit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/safepath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];

static const char *const entries[] = { "d/up", "d/sub", "d", "rel", "abs",
	"loop", "open", "file" };

/* at exit: remove the tree, so that no run leaves anything in /tmp */
static void
remove_tree(void)
{
	char p[128];
	size_t i;

	for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", base, entries[i]);
		if (unlink(p) != 0)
			(void)rmdir(p);
	}
	(void)rmdir(base);
}

static void
make_tree(void)
{
	char p[128];
	FILE *f;

	snprintf(base, sizeof(base), "/tmp/fuzz_safepath.%ld", (long)getpid());
	if (mkdir(base, 0755) != 0)
		return;	/* a rerun in the same pid: the tree is there */
	atexit(remove_tree);
	snprintf(p, sizeof(p), "%s/d", base);
	(void)mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d/sub", base);
	(void)mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/rel", base);
	(void)symlink("d/sub", p);
	snprintf(p, sizeof(p), "%s/abs", base);
	(void)symlink(base, p);
	snprintf(p, sizeof(p), "%s/loop", base);
	(void)symlink("loop", p);
	snprintf(p, sizeof(p), "%s/d/up", base);
	(void)symlink("..", p);
	snprintf(p, sizeof(p), "%s/open", base);
	(void)mkdir(p, 0777);
	(void)chmod(p, 0777);
	snprintf(p, sizeof(p), "%s/file", base);
	f = fopen(p, "w");
	if (f != NULL)
		fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[6000], out[4096];
	struct buf why = BUF_INIT;
	size_t n, blen;
	int rc, flags;
	uid_t uid;

	if (base[0] == '\0')
		make_tree();
	if (size == 0)
		return 0;
	uid = (data[0] & 1) != 0 ? 0 : 4242;
	flags = (data[0] & 2) != 0 ? SAFEPATH_LAST_DIR : 0;
	data++;
	size--;
	n = strnlen((const char *)data, size);
	blen = strlen(base);
	if (blen + 1 + n >= sizeof(path))
		n = sizeof(path) - blen - 2;
	memcpy(path, base, blen);
	path[blen] = '/';
	memcpy(path + blen + 1, data, n);
	path[blen + 1 + n] = '\0';
	rc = safepath_resolve(path, uid, flags, out, sizeof(out), &why);
	if (rc == 0) {
		if (out[0] != '/' || strlen(out) >= sizeof(out))
			abort();
		if (strcmp(out, "/") != 0 &&
		    (strstr(out, "//") != NULL || strstr(out, "/./") != NULL ||
		    strstr(out, "/../") != NULL ||
		    out[strlen(out) - 1] == '/'))
			abort();
		n = strlen(out);
		if ((n >= 2 && strcmp(out + n - 2, "/.") == 0) ||
		    (n >= 3 && strcmp(out + n - 3, "/..") == 0))
			abort();
	} else if (rc == -2) {
		if (why.len == 0)
			abort();
	} else if (rc != -1) {
		abort();
	}
	buf_free(&why);
	return 0;
}
