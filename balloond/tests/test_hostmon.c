/* SPDX-License-Identifier: MIT */
/* Host monitor parsing of sample /proc files, PSI present and absent. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "hostmon.h"

static const char meminfo[] = "MemTotal:       24576000 kB\n"
                              "MemFree:         1024000 kB\n"
                              "MemAvailable:    8192000 kB\n"
                              "Buffers:          123456 kB\n"
                              "Cached:          4000000 kB\n"
                              "HugePages_Total:       0\n";

static const char psi[] =
        "some avg10=12.50 avg60=3.10 avg300=0.80 "
        "total=123456\n"
        "full avg10=4.25 avg60=1.00 avg300=0.20 total=65432\n";

static void test_meminfo(void **state)
{
	struct bd_host h = {0};
	(void)state;

	assert_int_equal(bd_host_parse_meminfo(meminfo, &h), 0);
	assert_int_equal(h.total, 24576000ull * 1024);
	assert_int_equal(h.free, 1024000ull * 1024);
	assert_int_equal(h.avail, 8192000ull * 1024);
}

static void test_meminfo_old_kernel(void **state)
{
	struct bd_host h = {0};
	(void)state;

	/* before Linux 3.14: no MemAvailable, fall back to MemFree */
	assert_int_equal(bd_host_parse_meminfo("MemTotal: 2048 kB\n"
	                                       "MemFree: 1024 kB\n",
	                                       &h),
	                 0);
	assert_int_equal(h.avail, 1024ull * 1024);
	assert_int_equal(bd_host_parse_meminfo("MemFree: 1024 kB\n", &h),
	                 -EINVAL);
	assert_int_equal(bd_host_parse_meminfo("MemTotal: lots kB\n"
	                                       "MemFree: 1 kB\n",
	                                       &h),
	                 -EINVAL);
	/* a key that merely starts like another does not match */
	assert_int_equal(bd_host_parse_meminfo("MemTotalX: 5 kB\nMemFree: 1 "
	                                       "kB\n",
	                                       &h),
	                 -EINVAL);
}

static void test_psi(void **state)
{
	struct bd_host h = {0};
	(void)state;

	assert_int_equal(bd_host_parse_psi(psi, &h), 0);
	assert_true(h.psi_some10 == 12.5);
	assert_true(h.psi_full10 == 4.25);
	/* kernels before 5.13 have no "full" line for memory */
	assert_int_equal(bd_host_parse_psi("some avg10=1.00 avg60=0 avg300=0 "
	                                   "total=1\n",
	                                   &h),
	                 0);
	assert_true(h.psi_some10 == 1.0);
	assert_true(h.psi_full10 == 0.0);
	assert_int_equal(bd_host_parse_psi("garbage\n", &h), -EINVAL);
	assert_int_equal(bd_host_parse_psi("some avg10=x\n", &h), -EINVAL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_read_dir(void **state)
{
	char dir[] = "/tmp/bdproc.XXXXXX", p[256];
	struct bd_host h;
	(void)state;

	assert_non_null(mkdtemp(dir));
	/* nothing there: an error, not valid */
	memset(&h, 0, sizeof(h));
	assert_int_equal(bd_host_read(dir, &h), -ENOENT);
	assert_false(h.valid);
	/* meminfo without PSI (CONFIG_PSI off): valid, PSI not */
	snprintf(p, sizeof(p), "%s/meminfo", dir);
	write_file(p, meminfo);
	assert_int_equal(bd_host_read(dir, &h), 0);
	assert_true(h.valid);
	assert_false(h.psi_valid);
	assert_true(h.psi_some10 == 0);
	assert_int_equal(h.avail, 8192000ull * 1024);
	/* with PSI */
	snprintf(p, sizeof(p), "%s/pressure", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/pressure/memory", dir);
	write_file(p, psi);
	assert_int_equal(bd_host_read(dir, &h), 0);
	assert_true(h.psi_valid);
	assert_true(h.psi_some10 == 12.5);
	unlink(p);
	snprintf(p, sizeof(p), "%s/pressure", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/meminfo", dir);
	unlink(p);
	rmdir(dir);
}

static void test_real_proc(void **state)
{
	struct bd_host h;
	(void)state;

	/* the machine's own /proc parses and is plausible */
	assert_int_equal(bd_host_read("/proc", &h), 0);
	assert_true(h.total > (64ull << 20));
	assert_true(h.free <= h.total);
	assert_true(h.avail <= h.total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_meminfo),
	        cmocka_unit_test(test_meminfo_old_kernel),
	        cmocka_unit_test(test_psi),
	        cmocka_unit_test(test_read_dir),
	        cmocka_unit_test(test_real_proc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
