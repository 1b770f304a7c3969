/*
 * fuzz_local_forward.c — posthorn-local's parsers of hostile text.
 * Input: one octet selecting the target, then the data.
 *
 *   even: ~/.forward / :include: text -> forward_text_to_value ->
 *         alias_split.  Checks: no crash or leak; the value never holds a
 *         newline or NUL; every item alias_split returns is non-empty.
 *   odd:  a message through msg_copy (mbox=true, mboxrd quoting) and
 *         msg_loop_check.  Checks the quoting is reversible: removing one
 *         '>' from every line that matches ">+From " gives back the
 *         message (with a final newline added if it had none), followed
 *         by exactly one blank line; the octets the file holds after
 *         the message's size (a trailer) never appear.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/table.h"
#include "local/local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
forward_case(const char *p, size_t n)
{
	struct buf v = BUF_INIT;
	char **items = NULL;
	size_t nitems = 0, i;
	const char *why;

	if (forward_text_to_value(p, n, &v, &why) == 0) {
		if (memchr(buf_str(&v), '\n', v.len) != NULL ||
		    strlen(buf_str(&v)) != v.len)
			abort();
		if (alias_split(buf_str(&v), &items, &nitems, &why) == 0) {
			for (i = 0; i < nitems; i++)
				if (items[i][0] == '\0')
					abort();
			alias_items_free(items, nitems);
		}
	}
	buf_free(&v);
}

/* Undo mboxrd quoting of src[0..n) into dst; returns the length. */
static size_t
unquote(const char *src, size_t n, char *dst)
{
	size_t i = 0, o = 0, k;

	while (i < n) {
		k = i;
		while (k < n && src[k] == '>')
			k++;
		if (k > i && n - k >= 5 && memcmp(src + k, "From ", 5) == 0)
			i++;	/* drop one '>' */
		while (i < n && src[i] != '\n')
			dst[o++] = src[i++];
		if (i < n)
			dst[o++] = src[i++];
	}
	return o;
}

static void
mbox_case(const char *p, size_t n)
{
	struct buf prefix = BUF_INIT;
	int in, out;
	off_t w;
	char *got, *back;
	size_t blen, want;

	in = memfd_create("in", 0);
	out = memfd_create("out", 0);
	if (in < 0 || out < 0 || (n > 0 && write(in, p, n) != (ssize_t)n))
		abort();
	/* what follows the envelope's size is never copied (checked below) */
	if (write(in, "\nFrom TRAILER\n", 14) != 14)
		abort();
	(void)msg_loop_check(in, n, "a@b.c");
	if (buf_append_str(&prefix, "X: y\n") != 0)
		abort();
	w = msg_copy(in, n, out, &prefix, true);
	buf_free(&prefix);
	if (w < 6)
		abort();
	got = malloc((size_t)w + 1);
	back = malloc((size_t)w + 1);
	if (got == NULL || back == NULL ||
	    pread(out, got, (size_t)w, 0) != (ssize_t)w)
		abort();
	/* the prefix verbatim; ends with "\n\n" (newline + blank line) */
	if (memcmp(got, "X: y\n", 5) != 0 || got[w - 1] != '\n' ||
	    got[w - 2] != '\n')
		abort();
	blen = unquote(got + 5, (size_t)w - 6, back);
	want = n + (n > 0 && p[n - 1] != '\n');
	if (blen != want || (n > 0 && memcmp(back, p, n) != 0))
		abort();
	free(got);
	free(back);
	close(in);
	close(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 100000)
		return 0;
	if (data[0] % 2 == 0)
		forward_case((const char *)data + 1, size - 1);
	else
		mbox_case((const char *)data + 1, size - 1);
	return 0;
}
