/*
 * memhog - the workload program of the balloond test guest.
 *
 * Runs inside the QEMU guest (started by guest/init) and serves a small
 * line-based control protocol on a virtio-serial port (or on stdin/stdout
 * with -s, handy for trying it on the host).  It allocates, touches, holds
 * and frees anonymous memory on command and reports the guest's own
 * /proc/meminfo, so end-to-end tests can watch the balloon from inside.
 * The protocol is documented in docs/qemu-guests.md.
 *
 * Built standalone with `gcc -static` by scripts/guest-image; it links
 * nothing from the project.  It is guest-side test tooling, not library
 * code, so it calls mmap/munmap directly instead of going through the
 * bln_prim layer (which is host-side and not built into the guest).
 *
 * Sizes on the wire are bytes; meminfo values are KiB as in /proc/meminfo.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN  256
#define REPLY_MAX_LEN 8192
#define MAX_REGIONS   4096
#define CHUNK_BYTES   (4u << 20) /* MemAvailable is checked every 4 MiB */
#define READY_MARK    "BLN_GUEST_READY"

struct region {
	char *addr;
	size_t len; /* bytes, a multiple of the page size */
};

struct hog {
	int in_fd;
	int out_fd;
	int stdio;            /* 1: EOF on input ends the program */
	uint64_t reserve_kib; /* alloc stops when MemAvailable < this */
	size_t page;          /* bytes */
	struct region reg[MAX_REGIONS];
	size_t nreg;
	uint64_t held; /* bytes currently held */
	char reply[REPLY_MAX_LEN];
	size_t rlen;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Append printf-style text to the pending reply; silently truncates. */
static void rep(struct hog *h, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (h->rlen >= sizeof(h->reply) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(h->reply + h->rlen, sizeof(h->reply) - h->rlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	h->rlen += (size_t)n;
	if (h->rlen >= sizeof(h->reply))
		h->rlen = sizeof(h->reply) - 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_reply(struct hog *h)
{
	int ret;

	rep(h, "\n");
	if (h->reply[h->rlen - 1] != '\n')
		h->reply[h->rlen - 1] = '\n';
	ret = write_all(h->out_fd, h->reply, h->rlen);
	h->rlen = 0;
	return ret;
}

/*
 * Parse "123", "4096K", "300M", "1G", "2MiB", "1g" into bytes.
 * Returns 0 or -EINVAL.
 */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		mul = 1ull << 10;
		break;
	case 'M':
		mul = 1ull << 20;
		break;
	case 'G':
		mul = 1ull << 30;
		break;
	}
	if (mul > 1)
		end++;
	if (mul > 1 && strcmp(end, "iB") == 0)
		end += 2;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Read one field (KiB) of /proc/meminfo.  Returns 0 or -errno. */
static int meminfo_kib(const char *key, uint64_t *kib)
{
	char line[128];
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			*kib = strtoull(line + klen + 1, NULL, 10);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* Write to every page of [p, p+len) so it is really backed by RAM. */
static void touch_range(char *p, size_t len, size_t page)
{
	for (size_t off = 0; off < len; off += page)
		p[off] = (char)((off / page) | 1);
}

/*
 * Map and touch up to @want bytes as one region.  Unless @force, stops
 * early when MemAvailable falls below the reserve, keeping what was
 * touched.  Returns bytes obtained (may be 0); -errno on mmap failure.
 */
static int64_t hog_alloc(struct hog *h, uint64_t want, int force)
{
	size_t len = (size_t)((want + h->page - 1) / h->page * h->page);
	size_t done = 0;
	char *p;

	if (len == 0)
		return 0;
	if (h->nreg == MAX_REGIONS)
		return -ENOSPC;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	while (done < len) {
		size_t step =
		        len - done < CHUNK_BYTES ? len - done : CHUNK_BYTES;
		uint64_t avail = 0;

		if (!force && meminfo_kib("MemAvailable", &avail) == 0 &&
		    avail < h->reserve_kib + step / 1024)
			break;
		touch_range(p + done, step, h->page);
		done += step;
	}
	if (done < len)
		munmap(p + done, len - done);
	if (done == 0)
		return 0;
	h->reg[h->nreg].addr = p;
	h->reg[h->nreg].len = done;
	h->nreg++;
	h->held += done;
	return (int64_t)done;
}

/* Release @want bytes (rounded up to pages), newest regions first. */
static uint64_t hog_free(struct hog *h, uint64_t want)
{
	uint64_t freed = 0;

	if (want <= UINT64_MAX - h->page)
		want = (want + h->page - 1) / h->page * h->page;
	while (want > 0 && h->nreg > 0) {
		struct region *r = &h->reg[h->nreg - 1];
		size_t cut = r->len <= want ? r->len : (size_t)want;

		munmap(r->addr + r->len - cut, cut);
		r->len -= cut;
		if (r->len == 0)
			h->nreg--;
		want -= cut;
		freed += cut;
	}
	h->held -= freed;
	return freed;
}

static void cmd_alloc(struct hog *h, char *arg, char *opt)
{
	uint64_t want;
	uint64_t t0 = now_ms();
	int force = opt && strcmp(opt, "force") == 0;
	int64_t got;

	if (!arg || parse_size(arg, &want) < 0 || (opt && !force)) {
		rep(h, "err usage: alloc SIZE [force]");
		return;
	}
	got = hog_alloc(h, want, force);
	if (got < 0) {
		rep(h, "err %s held=%" PRIu64, strerror((int)-got), h->held);
		return;
	}
	rep(h, "%s got=%" PRId64 " held=%" PRIu64 " ms=%" PRIu64,
	    (uint64_t)got >= want ? "ok" : "err nomem", got, h->held,
	    now_ms() - t0);
}

static void cmd_free(struct hog *h, char *arg)
{
	uint64_t want;
	uint64_t freed;

	if (arg && strcmp(arg, "all") == 0)
		want = UINT64_MAX;
	else if (!arg || parse_size(arg, &want) < 0) {
		rep(h, "err usage: free SIZE|all");
		return;
	}
	freed = hog_free(h, want);
	rep(h, "ok freed=%" PRIu64 " held=%" PRIu64, freed, h->held);
}

static void cmd_touch(struct hog *h)
{
	uint64_t t0 = now_ms();

	for (size_t i = 0; i < h->nreg; i++)
		touch_range(h->reg[i].addr, h->reg[i].len, h->page);
	rep(h, "ok touched=%" PRIu64 " held=%" PRIu64 " ms=%" PRIu64, h->held,
	    h->held, now_ms() - t0);
}

/*
 * Reply with "key=value" pairs read from a "key: value [kB]" or
 * "key value" file (/proc/meminfo, /proc/vmstat), keeping keys that start
 * with @prefix (NULL or "" keeps all).
 */
static void cmd_kv_file(struct hog *h, const char *path, const char *prefix)
{
	char line[256];
	FILE *f = fopen(path, "re");
	size_t plen = prefix ? strlen(prefix) : 0;

	if (!f) {
		rep(h, "err %s: %s", path, strerror(errno));
		return;
	}
	rep(h, "ok");
	while (fgets(line, sizeof(line), f)) {
		char *sep = strpbrk(line, ": ");
		char *val;

		if (!sep || (plen && strncmp(line, prefix, plen) != 0))
			continue;
		*sep = '\0';
		val = sep + 1;
		while (*val == ' ' || *val == ':')
			val++;
		rep(h, " %s=%" PRIu64, line, (uint64_t)strtoull(val, NULL, 10));
	}
	fclose(f);
	if (strcmp(path, "/proc/meminfo") == 0)
		rep(h, " held=%" PRIu64, h->held);
}

/* Reply with a small file's content, "\n" and "\\" escaped. */
static void cmd_cat(struct hog *h, const char *path)
{
	char buf[2048];
	ssize_t n;
	int fd;

	if (!path) {
		rep(h, "err usage: cat PATH");
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rep(h, "err %s: %s", path, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		rep(h, "err %s: %s", path, strerror(errno));
		return;
	}
	rep(h, "ok ");
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n')
			rep(h, "\\n");
		else if (buf[i] == '\\')
			rep(h, "\\\\");
		else if (buf[i] == '\t')
			rep(h, " ");
		else if (isprint((unsigned char)buf[i]))
			rep(h, "%c", buf[i]);
	}
}

static void cmd_dropcaches(struct hog *h)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);

	sync();
	if (fd < 0 || write(fd, "3\n", 2) != 2) {
		rep(h, "err drop_caches: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	rep(h, "ok");
}

static const char help_text[] =
        "ok commands: ping | alloc SIZE [force] | free SIZE|all | touch | "
        "status | meminfo | vmstat [PREFIX] | cat PATH | dropcaches | "
        "poweroff | help";

/* Handle one command line; always leaves exactly one reply pending. */
static void handle_line(struct hog *h, char *line)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = cmd ? strtok_r(NULL, " \t\r", &save) : NULL;
	char *a2 = a1 ? strtok_r(NULL, " \t\r", &save) : NULL;

	if (!cmd)
		rep(h, "err empty");
	else if (strcmp(cmd, "ping") == 0)
		rep(h, "ok pong");
	else if (strcmp(cmd, "alloc") == 0)
		cmd_alloc(h, a1, a2);
	else if (strcmp(cmd, "free") == 0)
		cmd_free(h, a1);
	else if (strcmp(cmd, "touch") == 0)
		cmd_touch(h);
	else if (strcmp(cmd, "status") == 0)
		rep(h, "ok held=%" PRIu64 " regions=%zu", h->held, h->nreg);
	else if (strcmp(cmd, "meminfo") == 0)
		cmd_kv_file(h, "/proc/meminfo", NULL);
	else if (strcmp(cmd, "vmstat") == 0)
		cmd_kv_file(h, "/proc/vmstat", a1);
	else if (strcmp(cmd, "cat") == 0)
		cmd_cat(h, a1);
	else if (strcmp(cmd, "dropcaches") == 0)
		cmd_dropcaches(h);
	else if (strcmp(cmd, "help") == 0)
		rep(h, "%s", help_text);
	else if (strcmp(cmd, "poweroff") == 0 && !h->stdio) {
		rep(h, "ok poweroff");
		send_reply(h);
		sync();
		reboot(RB_POWER_OFF);
		rep(h, "err poweroff: %s", strerror(errno));
	} else
		rep(h, "err unknown command '%s' (try help)", cmd);
}

/*
 * Find the virtio-serial port named @name: /sys/class/virtio-ports/vportXpY
 * has a "name" file; the device node is /dev/vportXpY.  Waits up to
 * @wait_ms for the driver to create it.  Returns 0 or -ENOENT.
 */
static int find_port(const char *name, char *path, size_t size,
                     unsigned wait_ms)
{
	const char *base = "/sys/class/virtio-ports";

	for (unsigned waited = 0;; waited += 20) {
		DIR *d = opendir(base);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char p[512], buf[64] = "";
			int fd;
			ssize_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s/name", base, e->d_name);
			fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, name) == 0) {
				snprintf(path, size, "/dev/%s", e->d_name);
				closedir(d);
				return 0;
			}
		}
		if (d)
			closedir(d);
		if (waited >= wait_ms)
			return -ENOENT;
		sleep_ms(20);
	}
}

/*
 * Read lines and answer them.  On a virtio-serial port, read() returns 0
 * while no host client is connected: wait and retry.  Returns 0 at EOF in
 * stdio mode, -errno on a read/write error.
 */
static int serve(struct hog *h)
{
	char buf[LINE_MAX_LEN];
	size_t len = 0;
	int discarding = 0;

	for (;;) {
		ssize_t n = read(h->in_fd, buf + len, sizeof(buf) - len);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (h->stdio)
				return 0;
			len = 0; /* host went away: drop its partial line */
			discarding = 0;
			sleep_ms(50);
			continue;
		}
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len))) {
			size_t used = (size_t)(nl - buf) + 1;
			int ret;

			*nl = '\0';
			if (discarding)
				rep(h, "err line too long (max %d)",
				    LINE_MAX_LEN - 1);
			else
				handle_line(h, buf);
			discarding = 0;
			ret = send_reply(h);
			if (ret < 0)
				return ret;
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (len == sizeof(buf)) {
			discarding = 1;
			len = 0;
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: memhog [-s] [-p PORTNAME|/dev/PATH] "
	                "[-r RESERVE_MIB]\n"
	                "  -s  serve on stdin/stdout instead of a port\n");
}

int main(int argc, char **argv)
{
	static struct hog h;
	const char *port = "ctl";
	char path[300];
	int opt;

	h.reserve_kib = 24u * 1024u;
	h.page = (size_t)sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "sp:r:h")) != -1) {
		switch (opt) {
		case 's':
			h.stdio = 1;
			break;
		case 'p':
			port = optarg;
			break;
		case 'r':
			h.reserve_kib = strtoull(optarg, NULL, 10) * 1024u;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (h.stdio) {
		h.in_fd = 0;
		h.out_fd = 1;
		return serve(&h) < 0 ? 1 : 0;
	}
	if (port[0] == '/')
		snprintf(path, sizeof(path), "%s", port);
	else if (find_port(port, path, sizeof(path), 5000) < 0) {
		fprintf(stderr, "memhog: no virtio-serial port named '%s'\n",
		        port);
		return 1;
	}
	h.in_fd = open(path, O_RDWR | O_CLOEXEC);
	if (h.in_fd < 0) {
		fprintf(stderr, "memhog: %s: %s\n", path, strerror(errno));
		return 1;
	}
	h.out_fd = h.in_fd;
	printf("%s port=%s\n", READY_MARK, path);
	fflush(stdout);
	opt = serve(&h);
	fprintf(stderr, "memhog: %s: %s\n", path, strerror(-opt));
	return 1;
}
