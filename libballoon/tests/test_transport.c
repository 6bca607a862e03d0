/* SPDX-License-Identifier: MIT */
/* Unit tests for the balloon transport: register page, eventfds, waiting. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "balloon/bln_prim.h"
#include "balloon/bln_transport.h"

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void all_fds(struct bln_transport *t, int *out)
{
	for (unsigned q = 0; q < BLN_VQ_COUNT; q++)
		out[q] = t->kick_fd[q];
	out[BLN_VQ_COUNT] = t->status_fd;
	out[BLN_VQ_COUNT + 1] = t->irq_fd;
	out[BLN_VQ_COUNT + 2] = t->cfg_fd;
}

static void test_create_layout(void **state)
{
	struct bln_transport t;
	int fds[BLN_VQ_COUNT + 3];
	struct stat st;
	(void)state;

	assert_int_equal(bln_transport_create(&t), 0);
	assert_non_null(t.regs);
	assert_int_equal(t.regs->status, 0);
	assert_int_equal(t.regs->status_gen, 0);
	assert_int_equal(fstat(t.regs_fd, &st), 0);
	assert_true((size_t)st.st_size >= sizeof(struct bln_regs));
	all_fds(&t, fds);
	for (unsigned i = 0; i < BLN_VQ_COUNT + 3; i++) {
		int fl = fcntl(fds[i], F_GETFL), fdfl = fcntl(fds[i], F_GETFD);

		assert_true(fds[i] > 2);
		assert_true(fl & O_NONBLOCK);
		assert_false(fdfl & FD_CLOEXEC); /* inherited by a child */
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(fds[i], fds[j]);
	}
	assert_false(fcntl(t.regs_fd, F_GETFD) & FD_CLOEXEC);
	/* The register page really is the memfd: a second mapping sees it. */
	t.regs->config.num_pages = bln_to_le32(1234);
	{
		void *m;
		struct bln_regs *r2;

		assert_int_equal(bln_prim_map(t.regs_fd, 4096, &m), 0);
		r2 = m;
		assert_int_equal(bln_le32(r2->config.num_pages), 1234);
		bln_prim_unmap(m, 4096);
	}
	bln_transport_destroy(&t);
	assert_null(t.regs);
	bln_transport_destroy(&t); /* twice is harmless */
}

static void test_notify_drain(void **state)
{
	struct bln_transport t;
	(void)state;

	assert_int_equal(bln_transport_create(&t), 0);
	assert_int_equal(bln_drain(t.irq_fd), -EAGAIN);
	assert_int_equal(bln_notify(t.irq_fd), 0);
	assert_int_equal(bln_notify(t.irq_fd), 0);
	assert_int_equal(bln_notify(t.irq_fd), 0);
	assert_int_equal(bln_drain(t.irq_fd), 3);
	assert_int_equal(bln_drain(t.irq_fd), -EAGAIN);
	assert_int_equal(bln_notify(-1), -EBADF);
	assert_int_equal(bln_drain(-1), -EBADF);
	bln_transport_destroy(&t);
}

static void test_wait(void **state)
{
	struct bln_transport t;
	int fds[3];
	(void)state;

	assert_int_equal(bln_transport_create(&t), 0);
	fds[0] = t.irq_fd;
	fds[1] = t.cfg_fd;
	fds[2] = t.kick_fd[BLN_VQ_STATS];
	assert_int_equal(bln_wait(fds, 3, 0), 0);
	assert_int_equal(bln_wait(fds, 3, 20), 0); /* times out */
	bln_notify(t.cfg_fd);
	assert_int_equal(bln_wait(fds, 3, -1), 1);
	bln_notify(t.kick_fd[BLN_VQ_STATS]);
	assert_int_equal(bln_wait(fds, 3, 0), 2);
	/* bln_wait does not drain. */
	assert_int_equal(bln_wait(fds, 3, 0), 2);
	assert_int_equal(bln_drain(t.cfg_fd), 1);
	assert_int_equal(bln_wait(fds, 3, 0), 1);
	assert_int_equal(bln_wait(fds, 0, 0), -EINVAL);
	assert_int_equal(bln_wait(NULL, 1, 0), -EINVAL);
	bln_transport_destroy(&t);
}

/* A forked child shares the register page and the eventfds. */
static void test_fork_shared(void **state)
{
	struct bln_transport t;
	int fd, status;
	pid_t pid;
	(void)state;

	assert_int_equal(bln_transport_create(&t), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		t.regs->config.actual = bln_to_le32(777);
		_exit(bln_notify(t.status_fd) ? 1 : 0);
	}
	fd = t.status_fd;
	assert_int_equal(bln_wait(&fd, 1, 5000), 1);
	assert_int_equal(bln_drain(t.status_fd), 1);
	assert_int_equal(bln_le32(t.regs->config.actual), 777);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	bln_transport_destroy(&t);
}

/* Failures leave nothing open; a zeroed struct is safe to destroy. */
static void test_failures(void **state)
{
	struct bln_transport t;
	unsigned before = open_fds();
	int in_flags = fcntl(0, F_GETFD);
	(void)state;

	bln_prim_set_fault(BLN_PRIM_MEMFD, 1, ENOMEM);
	assert_int_equal(bln_transport_create(&t), -ENOMEM);
	assert_null(t.regs);
	assert_int_equal(open_fds(), before);
	bln_transport_destroy(&t);

	bln_prim_set_fault(BLN_PRIM_MMAP, 1, ENOMEM);
	assert_int_equal(bln_transport_create(&t), -ENOMEM);
	assert_int_equal(open_fds(), before);
	bln_transport_destroy(&t);

	memset(&t, 0, sizeof(t));
	bln_transport_destroy(&t);
	assert_int_equal(fcntl(0, F_GETFD), in_flags); /* fd 0 untouched */
	assert_int_equal(bln_transport_create(NULL), -EINVAL);

	assert_int_equal(bln_transport_create(&t), 0);
	assert_int_equal(open_fds(), before + BLN_VQ_COUNT + 4);
	bln_transport_destroy(&t);
	assert_int_equal(open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_layout),
	        cmocka_unit_test(test_notify_drain),
	        cmocka_unit_test(test_wait),
	        cmocka_unit_test(test_fork_shared),
	        cmocka_unit_test(test_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
