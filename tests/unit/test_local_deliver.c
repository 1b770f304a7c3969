/*
 * test_local_deliver.c — unit tests for posthorn-local's pieces: the
 * bytes written (Return-Path, Delivered-To, mboxrd quoting across chunk
 * boundaries), the loop check, Maildir and mbox delivery (byte-exact),
 * program delivery (environment, exit codes, time limit), .forward text
 * parsing and alias expansion (files, programs, nesting, loops, failed
 * forwarding).
 */
#include <check.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "common/agent.h"
#include "common/io.h"
#include "common/table.h"
#include "local/local.h"

static char tmpdir[PATH_MAX];
static struct config cfg;
static struct local_tables tabs;
static struct lctx ctx;

static const char *
tp(const char *name)
{
	static char p[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

static int
memfd_with(const char *data, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/msg.XXXXXX", tmpdir);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	return fd;
}

static void
slurp(const char *path, struct buf *b)
{
	buf_reset(b);
	ck_assert_int_eq(io_read_file(path, 64 * 1024 * 1024, b), 0);
}

static const char MSG[] = "Subject: hi\nFrom: a@b\n\nbody line\nFrom here\n";

static void
set_message(const char *data, size_t len)
{
	if (ctx.msgfd > 0)
		close(ctx.msgfd);
	ctx.msgfd = memfd_with(data, len);
	ctx.msgsize = len;
}

static void
setup(void)
{
	struct buf err = BUF_INIT;
	char aliases[8 * PATH_MAX];
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_local.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(aliases, sizeof(aliases),
	    "files: %s/alias.mbox, %s/alias.maildir/\n"
	    "prog: \"|cat > %s/prog.out\"\n"
	    "nested: files, prog\n"
	    "loop1: loop2\n"
	    "loop2: loop1\n"
	    "remote: someone@remote.example, files\n"
	    "incl: :include:%s/incl.txt\n"
	    "badinc: :include:relative.txt\n",
	    tmpdir, tmpdir, tmpdir, tmpdir);
	f = fopen(tp("aliases"), "w");
	ck_assert_ptr_nonnull(f);
	fputs(aliases, f);
	fclose(f);
	f = fopen(tp("incl.txt"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# a comment\n\n%s/inc.mbox,\n  \n", tmpdir);
	fclose(f);
	memset(&cfg, 0, sizeof(cfg));
	cfg.aliases = strdup(tp("aliases"));
	cfg.hostname = strdup("mail.example.org");
	strlist_add(&cfg.local_domains, "example.org");
	cfg.queue_socket = strdup(tp("no-such-queue.sock"));
	cfg.lock_timeout = 2;
	cfg.local_program_timeout = 5;
	cfg.mail_spool_dir = strdup(tmpdir);
	cfg.recipient_delimiter = '+';
	cfg.local_case_insensitive = true;
	ck_assert_int_eq(local_tables_load(&cfg, &tabs, &err), 0);
	buf_free(&err);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	ctx.tabs = &tabs;
	ctx.qid = "0123456789ABCDEF0123";
	ctx.sender = "sender@example.net";
	ctx.rcpt = "rcpt@example.org";
	snprintf(ctx.local, sizeof(ctx.local), "rcpt");
	snprintf(ctx.domain, sizeof(ctx.domain), "example.org");
	snprintf(ctx.user, sizeof(ctx.user), "tester");
	snprintf(ctx.home, sizeof(ctx.home), "%s", tmpdir);
	ctx.msgfd = -1;
	set_message(MSG, sizeof(MSG) - 1);
}

static void
teardown(void)
{

	close(ctx.msgfd);
	local_tables_free(&tabs);
	free(cfg.aliases);
	free(cfg.hostname);
	free(cfg.queue_socket);
	free(cfg.mail_spool_dir);
	strlist_free(&cfg.local_domains);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}

/* Copy the message through msg_copy into a file and return its bytes. */
static void
copy_to(bool mbox, const char *prefix, struct buf *out)
{
	struct buf p = BUF_INIT;
	int fd;
	off_t n;

	buf_append_str(&p, prefix);
	fd = open(tp("copy"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	n = msg_copy(ctx.msgfd, ctx.msgsize, fd, &p, mbox);
	close(fd);
	slurp(tp("copy"), out);
	ck_assert_int_eq(n, (off_t)out->len);
	buf_free(&p);
}

START_TEST(test_prefix)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(msg_prefix(&ctx, &b), 0);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <sender@example.net>\n"
	    "Delivered-To: rcpt@example.org\n");
	ctx.sender = "";
	ck_assert_int_eq(msg_prefix(&ctx, &b), 0);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <>\n"
	    "Delivered-To: rcpt@example.org\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_copy_plain_and_mboxrd)
{
	static const char in[] = "From x\nSubject: s\n\nFrom me\n>From you\n"
	    ">>From x\nFrom\nFromage\n From x\n>From\n>>\nlast";
	struct buf out = BUF_INIT;

	set_message(in, sizeof(in) - 1);
	copy_to(false, "P: 1\n", &out);
	ck_assert_uint_eq(out.len, 5 + sizeof(in) - 1);
	ck_assert_int_eq(memcmp(out.data, "P: 1\n", 5), 0);
	ck_assert_int_eq(memcmp(out.data + 5, in, sizeof(in) - 1), 0);
	copy_to(true, "From s d\n", &out);
	ck_assert_str_eq(buf_str(&out), "From s d\n>From x\nSubject: s\n\n"
	    ">From me\n>>From you\n>>>From x\nFrom\nFromage\n From x\n"
	    ">From\n>>\nlast\n\n");
	buf_free(&out);
}
END_TEST

START_TEST(test_copy_mbox_chunk_boundary)
{
	/* "From " split across the 64 KiB read boundary, and a '>' run */
	size_t n = 65536 + 100, i;
	char *in = malloc(n);
	struct buf out = BUF_INIT;

	memset(in, 'a', n);
	in[65533] = '\n';
	memcpy(in + 65534, ">>From z\n", 9);
	in[n - 1] = '\n';
	set_message(in, n);
	copy_to(true, "", &out);
	ck_assert_uint_eq(out.len, n + 1 + 1);
	ck_assert_int_eq(memcmp(out.data + 65534, ">>>From z\n", 10), 0);
	for (i = 0; i < 65533; i++)
		ck_assert_int_eq(out.data[i], 'a');
	ck_assert_int_eq(out.data[out.len - 1], '\n');
	ck_assert_int_eq(out.data[out.len - 2], '\n');
	free(in);
	buf_free(&out);
}
END_TEST

START_TEST(test_loop_check)
{
	static const char ok[] = "Received: x\nDelivered-To: other@example.org"
	    "\nSubject: s\n\nDelivered-To: rcpt@example.org\n";
	static const char loop[] = "Subject: s\nDELIVERED-TO :  <Rcpt@Example."
	    "org> \nX: y\n\nbody\n";
	static const char folded[] = "Subject: s\nDelivered-To:\n\trcpt@"
	    "example.org\n\n";
	struct buf m = BUF_INIT;
	int i;

	set_message(ok, sizeof(ok) - 1);
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize, ctx.rcpt), 0);
	set_message(loop, sizeof(loop) - 1);
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize, ctx.rcpt), 1);
	set_message(folded, sizeof(folded) - 1);
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize, ctx.rcpt), 1);
	for (i = 0; i < 100; i++)
		buf_append_str(&m, "Received: from x by y\n");
	buf_append_str(&m, "\nReceived: in the body\n");
	set_message(m.data, m.len);
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize, ctx.rcpt), 0);
	buf_reset(&m);
	for (i = 0; i < 101; i++)
		buf_append_str(&m, "Received: from x by y\n");
	set_message(m.data, m.len);
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize, ctx.rcpt), 1);
	buf_free(&m);
}
END_TEST

/* The one file in DIR/new, its name in *name. */
static void
only_new(const char *md, struct buf *content, char *name, size_t namesz)
{
	char d[PATH_MAX + 64], f[2 * PATH_MAX];
	DIR *dir;
	struct dirent *de;
	int n = 0;

	snprintf(d, sizeof(d), "%s/new", md);
	dir = opendir(d);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(name, namesz, "%s", de->d_name);
	}
	closedir(dir);
	ck_assert_int_eq(n, 1);
	snprintf(f, sizeof(f), "%s/%s", d, name);
	slurp(f, content);
}

START_TEST(test_maildir)
{
	static const char want[] = "Return-Path: <sender@example.net>\n"
	    "Delivered-To: rcpt@example.org\n"
	    "Subject: hi\nFrom: a@b\n\nbody line\nFrom here\n";
	struct lresult r;
	struct buf b = BUF_INIT;
	char name[512], sz[32];
	regex_t re;

	maildir_deliver(&ctx, tp("md/"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_str_eq(r.dsn, "2.0.0");
	only_new(tp("md"), &b, name, sizeof(name));
	ck_assert_str_eq(buf_str(&b), want);
	snprintf(sz, sizeof(sz), ",S=%zu", sizeof(want) - 1);
	ck_assert_ptr_nonnull(strstr(name, sz));
	ck_assert_int_eq(regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\."
	    "[^/:]+,S=[0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regexec(&re, name, 0, NULL, 0), 0);
	regfree(&re);
	ck_assert_int_eq(rmdir(tp("md/tmp")), 0);	/* empty */
	ck_assert_int_eq(rmdir(tp("md/cur")), 0);
	buf_free(&b);
}
END_TEST

/* A Maildir with tmp/ but no new/ (or cur/): found when the message is
 * moved, created, delivered. */
START_TEST(test_maildir_partial)
{
	struct lresult r;
	struct stat st;

	ck_assert_int_eq(mkdir(tp("md3"), 0700), 0);
	ck_assert_int_eq(mkdir(tp("md3/tmp"), 0700), 0);
	maildir_deliver(&ctx, tp("md3/"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(stat(tp("md3/new"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(stat(tp("md3/cur"), &st), 0);
}
END_TEST

START_TEST(test_maildir_failures)
{
	struct lresult r;

	/* parent directory missing: temporary */
	maildir_deliver(&ctx, tp("nodir/md/"), &r);
	ck_assert_int_eq(r.status, 'T');
	/* a file where the Maildir should be: permanent */
	close(open(tp("afile"), O_WRONLY | O_CREAT, 0600));
	maildir_deliver(&ctx, tp("afile/"), &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.2.0");
}
END_TEST

/* Diagnostics name the exact path, and for a read-only file system or a
 * permission problem say where an administrator should look. */
START_TEST(test_diagnostics_name_paths)
{
	struct lresult r;
	char want[PATH_MAX + 200];

	res_errno(&r, EROFS, "mailbox", "/var/vmail/a");
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	ck_assert_str_eq(r.text, "mailbox /var/vmail/a: Read-only file system "
	    "(under systemd: not in ReadWritePaths= of posthorn-send.service, "
	    "or ProtectHome=)");
	res_errno(&r, EACCES, "maildir", "/srv/m/new");
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.2.0");
	snprintf(want, sizeof(want), "maildir /srv/m/new: Permission denied "
	    "(delivering as uid %lu)", (unsigned long)geteuid());
	ck_assert_str_eq(r.text, want);
	/* a Maildir whose tmp is a file: the diagnostic names tmp */
	ck_assert_int_eq(mkdir(tp("md2"), 0700), 0);
	close(open(tp("md2/tmp"), O_WRONLY | O_CREAT, 0600));
	maildir_deliver(&ctx, tp("md2/"), &r);
	ck_assert_int_eq(r.status, 'P');
	snprintf(want, sizeof(want), "maildir %s: not a safe mailbox (Not a "
	    "directory)", tp("md2/tmp"));
	ck_assert_str_eq(r.text, want);
}
END_TEST

START_TEST(test_mbox)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	regex_t re;
	int fd;

	/* an existing mbox without a final newline gets a separator */
	fd = open(tp("mbox"), O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "old", 3), 3);
	close(fd);
	mbox_deliver(&ctx, tp("mbox"), &r);
	ck_assert_int_eq(r.status, 'D');
	ctx.sender = "";
	mbox_deliver(&ctx, tp("mbox"), &r);
	ck_assert_int_eq(r.status, 'D');
	slurp(tp("mbox"), &b);
	ck_assert_int_eq(regcomp(&re,
	    "^old\n"
	    "From sender@example.net [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] "
	    "[0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}\n"
	    "Return-Path: <sender@example.net>\n"
	    "Delivered-To: rcpt@example.org\n"
	    "Subject: hi\nFrom: a@b\n\nbody line\n>From here\n\n"
	    "From MAILER-DAEMON [^\n]+\n"
	    "Return-Path: <>\n"
	    "Delivered-To: rcpt@example.org\n"
	    "Subject: hi\nFrom: a@b\n\nbody line\n>From here\n\n$",
	    REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, buf_str(&b), 0, NULL, 0) == 0,
	    "mbox content: %s", buf_str(&b));
	regfree(&re);
	buf_free(&b);
}
END_TEST

START_TEST(test_mbox_unsafe)
{
	struct lresult r;

	int fd;

	/* deferred, not bounced: in a mode 1777 spool anyone can plant them */
	ck_assert_int_eq(symlink(tp("target"), tp("link")), 0);
	mbox_deliver(&ctx, tp("link"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.2.0");
	ck_assert_ptr_nonnull(strstr(r.text, "a symbolic link"));
	ck_assert_int_eq(access(tp("target"), F_OK), -1);
	close(open(tp("hard1"), O_WRONLY | O_CREAT, 0600));
	ck_assert_int_eq(link(tp("hard1"), tp("hard2")), 0);
	mbox_deliver(&ctx, tp("hard1"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_ptr_nonnull(strstr(r.text, "hard links"));
	ck_assert_int_eq(mkdir(tp("adir"), 0700), 0);
	mbox_deliver(&ctx, tp("adir"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_ptr_nonnull(strstr(r.text, "not a regular file"));
	if (geteuid() == 0) {	/* another user's file */
		fd = open(tp("theirs"), O_WRONLY | O_CREAT, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fchown(fd, 54321, (gid_t)-1), 0);
		close(fd);
		mbox_deliver(&ctx, tp("theirs"), &r);
		ck_assert_int_eq(r.status, 'T');
		ck_assert_str_eq(r.dsn, "4.2.0");
		ck_assert_ptr_nonnull(strstr(r.text, "owned by another user"));
	}
	mbox_deliver(&ctx, "/dev/null", &r);
	ck_assert_int_eq(r.status, 'D');
}
END_TEST

/* A directory on the way that another user could change (theirs, or
 * world-writable without the sticky bit) lets them swap in a link after
 * the owner was decided: deferred, nothing written through it. */
START_TEST(test_unsafe_path)
{
	struct lresult r;

	if (geteuid() != 0)
		return;	/* chown to another uid needs root */
	ck_assert_int_eq(mkdir(tp("theirs"), 0755), 0);
	ck_assert_int_eq(chown(tp("theirs"), 54321, 54321), 0);
	mbox_deliver(&ctx, tp("theirs/box"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.2.0");
	ck_assert_ptr_nonnull(strstr(r.text, "unsafe path: directory"));
	ck_assert_ptr_nonnull(strstr(r.text, "owned by uid 54321"));
	ck_assert_int_eq(access(tp("theirs/box"), F_OK), -1);
	maildir_deliver(&ctx, tp("theirs/md/"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.2.0");
	ck_assert_int_eq(access(tp("theirs/md"), F_OK), -1);
	/* their link into our own directory is not followed either */
	ck_assert_int_eq(mkdir(tp("mine"), 0700), 0);
	ck_assert_int_eq(symlink(tp("mine"), tp("via")), 0);
	ck_assert_int_eq(lchown(tp("via"), 54321, 54321), 0);
	mbox_deliver(&ctx, tp("via/box"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_ptr_nonnull(strstr(r.text, "symbolic link"));
	ck_assert_int_eq(access(tp("mine/box"), F_OK), -1);
	/* ours is, and the mailbox is written where it points */
	ck_assert_int_eq(lchown(tp("via"), 0, 0), 0);
	mbox_deliver(&ctx, tp("via/box"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(access(tp("mine/box"), F_OK), 0);
	maildir_deliver(&ctx, tp("via/md/"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(access(tp("mine/md/new"), F_OK), 0);
	/* world-writable, not sticky */
	ck_assert_int_eq(mkdir(tp("open"), 0700), 0);
	ck_assert_int_eq(chmod(tp("open"), 0777), 0);
	mbox_deliver(&ctx, tp("open/box"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_ptr_nonnull(strstr(r.text, "writable by everyone"));
	ck_assert_int_eq(chmod(tp("open"), 01777), 0);
	mbox_deliver(&ctx, tp("open/box"), &r);
	ck_assert_int_eq(r.status, 'D');
}
END_TEST

START_TEST(test_mbox_lock_timeout)
{
	struct lresult r;
	int fd;

	fd = open(tp("locked.lock"), O_WRONLY | O_CREAT, 0600);
	close(fd);
	cfg.lock_timeout = 1;
	mbox_deliver(&ctx, tp("locked"), &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.2.0");
	ck_assert_ptr_nonnull(strstr(r.text, "locked"));
}
END_TEST

/* In a mode 1777 spool another user can make ALICE.lock, with a record
 * that looks like one a killed posthorn-local left: it must neither make
 * us cut the mbox back (the last message was delivered) nor hold the
 * mailbox's mail until it is removed. */
START_TEST(test_mbox_foreign_dotlock)
{
	struct lresult r;
	struct stat st;
	char rec[160];
	off_t before;
	int fd, n;

	if (geteuid() != 0)
		return;		/* cannot make a lock another uid owns */
	mbox_deliver(&ctx, tp("victim"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(stat(tp("victim"), &st), 0);
	before = st.st_size;
	mbox_deliver(&ctx, tp("victim"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(stat(tp("victim"), &st), 0);
	/* "posthorn-local DEADPID DEV INO SIZE-BEFORE-THE-LAST-MESSAGE" */
	n = snprintf(rec, sizeof(rec), "posthorn-local 4000000 %llu %llu "
	    "%lld\n", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino, (long long)before);
	fd = open(tp("victim.lock"), O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, rec, (size_t)n), n);
	ck_assert_int_eq(fchown(fd, 54321, (gid_t)-1), 0);
	close(fd);
	before = st.st_size;
	cfg.lock_timeout = 2;
	mbox_deliver(&ctx, tp("victim"), &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_int_eq(stat(tp("victim"), &st), 0);
	ck_assert_int_gt(st.st_size, before);	/* appended, nothing cut */
	ck_assert_int_eq(access(tp("victim.lock"), F_OK), 0);	/* not ours */
}
END_TEST

START_TEST(test_mbox_fcntl_lock_timeout)
{
	struct lresult r;
	struct flock fl;
	int fd, pfd[2];
	pid_t pid;
	char c;

	fd = open(tp("held"), O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {		/* another process holds the fcntl lock */
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		sleep(20);
		_exit(0);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	cfg.lock_timeout = 1;
	mbox_deliver(&ctx, tp("held"), &r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.2.0");
	/* the lock is gone with the process: now it works */
	mbox_deliver(&ctx, tp("held"), &r);
	ck_assert_int_eq(r.status, 'D');
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

START_TEST(test_program)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	char cmd[PATH_MAX + 128];

	snprintf(cmd, sizeof(cmd), "cat > '%s'; env | sort > '%s'",
	    tp("p.out"), tp("p.env"));
	snprintf(ctx.ext, sizeof(ctx.ext), "tag");
	setenv("LEAKME", "1", 1);
	program_deliver(&ctx, cmd, &r);
	ck_assert_int_eq(r.status, 'D');
	slurp(tp("p.out"), &b);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <sender@example.net>\n"
	    "Delivered-To: rcpt@example.org\n" "Subject: hi\nFrom: a@b\n\n"
	    "body line\nFrom here\n");
	slurp(tp("p.env"), &b);
	/* exactly the documented environment (sh may add PWD, SHLVL, _) */
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "DOMAIN=example.org\n"
	    "EXTENSION=tag\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "LOCAL=rcpt\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "PATH=/usr/bin:/bin\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "RECIPIENT=rcpt@example.org"
	    "\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "SENDER=sender@example.net"
	    "\n"));
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "USER=tester\n"));
	ck_assert_ptr_null(strstr(buf_str(&b), "LEAKME"));
	buf_free(&b);
}
END_TEST

START_TEST(test_program_exit_codes)
{
	struct lresult r;

	program_deliver(&ctx, "echo 'try later'; exit 75", &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	ck_assert_str_eq(r.text, "command exited with status 75: try later");
	program_deliver(&ctx, "echo 'no such user' >&2; exit 67", &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.1.1");
	ck_assert_str_eq(r.text, "command exited with status 67: no such "
	    "user");
	program_deliver(&ctx, "exit 1", &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.3.0");
	program_deliver(&ctx, "kill -9 $$", &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.text, "command killed by signal 9: ");
	/* relayed by the session leader as the same signal, SIGTERM too
	 * (its own parent-death signal is a different matter) */
	program_deliver(&ctx, "echo bye; kill -TERM $$", &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.text, "command killed by signal 15: bye");
	program_deliver(&ctx, "kill -SEGV $$", &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.text, "command killed by signal 11: ");
	/* a program that does not read its input still succeeds */
	program_deliver(&ctx, "exit 0", &r);
	ck_assert_int_eq(r.status, 'D');
	/* "|" with no command would run sh -c "" and discard the message */
	program_deliver(&ctx, "", &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.1.3");
	program_deliver(&ctx, " \t ", &r);
	ck_assert_int_eq(r.status, 'P');
}
END_TEST

START_TEST(test_program_timeout)
{
	struct lresult r;

	cfg.local_program_timeout = 1;
	program_deliver(&ctx, "sleep 30", &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_ptr_nonnull(strstr(r.text, "timed out"));
}
END_TEST

START_TEST(test_forward_text)
{
	struct buf v = BUF_INIT;
	const char *why;
	static const char t[] = "# comment\n\n  a@b.c,\nd ,e\r\n\"|prog x, y\""
	    "\n,\n";

	ck_assert_int_eq(forward_text_to_value(t, sizeof(t) - 1, &v, &why),
	    0);
	ck_assert_str_eq(buf_str(&v), "a@b.c, d ,e, \"|prog x, y\"");
	ck_assert_int_eq(forward_text_to_value("a\0b", 3, &v, &why), -1);
	ck_assert_int_eq(forward_text_to_value("", 0, &v, &why), 0);
	ck_assert_uint_eq(v.len, 0);
	buf_free(&v);
}
END_TEST

START_TEST(test_alias_files_nested)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	char name[512];

	expand_deliver(&ctx, "files, prog", "nested", false, &r);
	ck_assert_int_eq(r.status, 'D');
	slurp(tp("alias.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "\n>From here\n\n"));
	only_new(tp("alias.maildir"), &b, name, sizeof(name));
	slurp(tp("prog.out"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Delivered-To: rcpt@"));
	buf_free(&b);
}
END_TEST

START_TEST(test_alias_include)
{
	struct lresult r;
	struct buf b = BUF_INIT;

	expand_deliver(&ctx, tabs.aliases.v ? table_lookup(&tabs.aliases,
	    "incl")->value : "", "incl", false, &r);
	ck_assert_int_eq(r.status, 'D');
	slurp(tp("inc.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	expand_deliver(&ctx, ":include:relative.txt", "badinc", false, &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.5");
	buf_free(&b);
}
END_TEST

/* An :include: file others than root and us may write (a list its
 * manager keeps, a world-writable file) gives addresses only: its
 * commands, files and further includes would run with our uid, not the
 * writer's, so each fails alone with 5.7.1 and nothing of it runs; the
 * addresses in it are still delivered.  A trusted include still runs
 * everything (test_alias_include). */
START_TEST(test_alias_include_untrusted)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	char v[PATH_MAX + 64];
	FILE *f;

	f = fopen(tp("safe.txt"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "|touch %s/pwned-nested\n", tmpdir);
	fclose(f);
	ck_assert_int_eq(chmod(tp("safe.txt"), 0644), 0);
	f = fopen(tp("list.txt"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "files\n|touch %s/pwned\n%s/evil.mbox\n%s/evil.md/\n"
	    ":include:%s/safe.txt\n", tmpdir, tmpdir, tmpdir, tmpdir);
	fclose(f);
	/* world-writable */
	ck_assert_int_eq(chmod(tp("list.txt"), 0666), 0);
	snprintf(v, sizeof(v), ":include:%s/list.txt", tmpdir);
	expand_deliver(&ctx, v, "list", false, &r);
	ck_assert_msg(r.status == 'P', "%c %s %s", r.status, r.dsn, r.text);
	ck_assert_str_eq(r.dsn, "5.7.1");
	ck_assert_ptr_nonnull(strstr(r.text, "list.txt"));
	ck_assert_int_eq(access(tp("pwned"), F_OK), -1);
	ck_assert_int_eq(access(tp("pwned-nested"), F_OK), -1);
	ck_assert_int_eq(access(tp("evil.mbox"), F_OK), -1);
	ck_assert_int_eq(access(tp("evil.md"), F_OK), -1);
	/* the address in it (an alias of files) was delivered */
	slurp(tp("alias.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	/* group-writable is no better */
	ck_assert_int_eq(chmod(tp("list.txt"), 0664), 0);
	expand_deliver(&ctx, v, "list", false, &r);
	ck_assert_str_eq(r.dsn, "5.7.1");
	ck_assert_int_eq(access(tp("pwned"), F_OK), -1);
	/* owned by somebody else (needs root to arrange) */
	ck_assert_int_eq(chmod(tp("list.txt"), 0644), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(tp("list.txt"), 12345, 12345), 0);
		expand_deliver(&ctx, v, "list", false, &r);
		ck_assert_str_eq(r.dsn, "5.7.1");
		ck_assert_int_eq(access(tp("pwned"), F_OK), -1);
		ck_assert_int_eq(chown(tp("list.txt"), 0, 0), 0);
	}
	/* ours and not writable by others: everything runs */
	expand_deliver(&ctx, v, "list", false, &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	ck_assert_int_eq(access(tp("pwned"), F_OK), 0);
	ck_assert_int_eq(access(tp("pwned-nested"), F_OK), 0);
	ck_assert_int_eq(access(tp("evil.mbox"), F_OK), 0);
	buf_free(&b);
}
END_TEST

/* An alias runs as alias_user.  Started by the spawner with another uid
 * (it resolved the recipient to a user or mailbox, then the aliases file
 * changed), the agent defers instead of running the alias's files and
 * programs as that uid; as alias_user, as the spool's owner (an instance
 * run by one user), or started directly, it delivers. */
START_TEST(test_alias_needs_alias_user)
{
	struct lresult r;
	struct passwd *pw = getpwuid(geteuid());

	ck_assert_ptr_nonnull(pw);
	ctx.rcpt = "files@example.org";
	ctx.spawned = true;
	cfg.alias_user = (char *)(geteuid() == 65534 ? "root" : "nobody");
	local_deliver(&ctx, &r);
	ck_assert_msg(r.status == 'T', "%c %s %s", r.status, r.dsn, r.text);
	ck_assert_str_eq(r.dsn, "4.3.5");
	ck_assert_ptr_nonnull(strstr(r.text, "alias_user"));
	ck_assert_int_eq(access(tp("alias.mbox"), F_OK), -1);
	/* the instance's own user: it owns the spool */
	cfg.spool = tmpdir;
	local_deliver(&ctx, &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	cfg.spool = NULL;
	/* alias_user itself */
	cfg.alias_user = pw->pw_name;
	local_deliver(&ctx, &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	/* not started by the spawner: no uid was chosen for us */
	cfg.alias_user = (char *)"nobody";
	ctx.spawned = false;
	local_deliver(&ctx, &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	cfg.alias_user = NULL;
}
END_TEST

START_TEST(test_alias_loop)
{
	struct lresult r;

	expand_deliver(&ctx, "loop2", "loop1", false, &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.4.6");
}
END_TEST

START_TEST(test_alias_forward_fails_temporarily)
{
	struct lresult r;

	/* the queue socket does not exist: the remote part defers */
	expand_deliver(&ctx, "someone@remote.example, files", "remote", false,
	    &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	ck_assert_ptr_nonnull(strstr(r.text, "cannot forward"));
	ck_assert_int_eq(access(tp("alias.mbox"), F_OK), 0);
}
END_TEST

/* Quoted local parts and "Name <addr>" items are addresses like any
 * other: the list is not refused as a whole (4.3.5) any more, and an
 * address forwarded keeps its quotes.  Without a queue, forwarding a
 * valid address fails with 4.3.0 "cannot forward"; an invalid one would
 * be 5.1.3 before the queue is tried. */
START_TEST(test_alias_quoted_local_parts)
{
	struct lresult r;
	struct buf b = BUF_INIT;

	expand_deliver(&ctx, "\"john doe\"@remote.example, files", "ql",
	    false, &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	ck_assert_ptr_nonnull(strstr(r.text, "cannot forward"));
	slurp(tp("alias.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	ck_assert_int_eq(unlink(tp("alias.mbox")), 0);
	/* a local domain: forwarded as "john doe"@example.org, not as the
	 * invalid john doe@example.org */
	expand_deliver(&ctx, "\"john doe\"@example.org", "ql", false, &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	expand_deliver(&ctx, "\"john doe\"", "ql", false, &r);
	ck_assert_int_eq(r.status, 'T');
	ck_assert_str_eq(r.dsn, "4.3.0");
	/* a quoted plain name is the name: the alias is expanded here */
	expand_deliver(&ctx, "\"files\"", "ql", false, &r);
	ck_assert_int_eq(r.status, 'D');
	/* files: an mbox and a Maildir, two places */
	ck_assert_ptr_nonnull(strstr(r.text, AGENT_TEXT_EXPANDED));
	/* "Name <addr>" and comments, as sendmail and Postfix take them */
	expand_deliver(&ctx, "The Files <files> (archive)", "ql", false, &r);
	ck_assert_int_eq(r.status, 'D');
	slurp(tp("alias.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	buf_free(&b);
}
END_TEST

/* An item that is no address fails for good and alone: the rest of the
 * list is delivered, the sender learns which item is wrong. */
START_TEST(test_alias_bad_item_permanent)
{
	struct lresult r;

	expand_deliver(&ctx, "john doe@example.org, files", "bad", false,
	    &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.1.3");
	ck_assert_ptr_nonnull(strstr(r.text, "john doe@example.org"));
	ck_assert_int_eq(access(tp("alias.mbox"), F_OK), 0);
}
END_TEST

START_TEST(test_dotforward_self)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	char v[PATH_MAX + 64];

	/* "\tester" in tester's .forward is tester's own mbox */
	snprintf(v, sizeof(v), "\\tester, %s/copy.mbox", tmpdir);
	expand_deliver(&ctx, v, "tester", true, &r);
	ck_assert_int_eq(r.status, 'D');
	/* one place: as it is; two places: "expanded" for a success
	 * notice */
	snprintf(v, sizeof(v), "%s/one.mbox", tmpdir);
	expand_deliver(&ctx, v, "tester", true, &r);
	ck_assert_int_eq(r.status, 'D');
	ck_assert_msg(strncmp(r.text, "delivered to mailbox ", 21) == 0, "%s",
	    r.text);
	snprintf(v, sizeof(v), "\\tester, %s/copy.mbox", tmpdir);
	expand_deliver(&ctx, v, "tester", true, &r);
	ck_assert_msg(strncmp(r.text, AGENT_TEXT_EXPANDED "2 destinations, ",
	    strlen(AGENT_TEXT_EXPANDED "2 destinations, ")) == 0, "%s", r.text);
	slurp(tp("tester"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	slurp(tp("copy.mbox"), &b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "Subject: hi\n"));
	buf_free(&b);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("local");
	TCase *tc = tcase_create("deliver");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_copy_plain_and_mboxrd);
	tcase_add_test(tc, test_copy_mbox_chunk_boundary);
	tcase_add_test(tc, test_loop_check);
	tcase_add_test(tc, test_maildir);
	tcase_add_test(tc, test_maildir_partial);
	tcase_add_test(tc, test_maildir_failures);
	tcase_add_test(tc, test_diagnostics_name_paths);
	tcase_add_test(tc, test_mbox);
	tcase_add_test(tc, test_mbox_unsafe);
	tcase_add_test(tc, test_unsafe_path);
	tcase_add_test(tc, test_mbox_lock_timeout);
	tcase_add_test(tc, test_mbox_fcntl_lock_timeout);
	tcase_add_test(tc, test_mbox_foreign_dotlock);
	tcase_add_test(tc, test_program);
	tcase_add_test(tc, test_program_exit_codes);
	tcase_add_test(tc, test_program_timeout);
	tcase_add_test(tc, test_forward_text);
	tcase_add_test(tc, test_alias_files_nested);
	tcase_add_test(tc, test_alias_include);
	tcase_add_test(tc, test_alias_include_untrusted);
	tcase_add_test(tc, test_alias_needs_alias_user);
	tcase_add_test(tc, test_alias_loop);
	tcase_add_test(tc, test_alias_forward_fails_temporarily);
	tcase_add_test(tc, test_dotforward_self);
	tcase_add_test(tc, test_alias_quoted_local_parts);
	tcase_add_test(tc, test_alias_bad_item_permanent);
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
