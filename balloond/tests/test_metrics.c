/* SPDX-License-Identifier: MIT */
/* /metrics: the Prometheus text is well formed (HELP/TYPE once per family,
 * samples under their family, label syntax, numeric values), carries the
 * VM/host/daemon values, and is served over HTTP from the daemon's loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <bc_util.h>

#include "metrics.h"
#include "rig.h"

static struct vm *fake_vm(struct rig *r, const char *name)
{
	struct vm *vm = bd_vm_new(&r->bd, name, "/nonexistent/bd-metrics.qmp");

	assert_non_null(vm);
	assert_int_equal(bd_vm_append(&r->bd, vm), 0);
	return vm;
}

/* Validate the exposition format line by line. */
static void check_format(const char *text)
{
	char fam[128] = "", line[1024];
	char declared[256][128];
	int ndecl = 0;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl); /* every line ends with \n */
		size_t n = (size_t)(nl - p);
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			char name[128];
			assert_int_equal(sscanf(line + 7, "%127s", name), 1);
			for (int i = 0; i < ndecl; i++)
				if (!strcmp(declared[i], name))
					fail_msg("family %s declared twice",
					         name);
			snprintf(fam, sizeof(fam), "%s", name);
			assert_true(ndecl < 256);
			snprintf(declared[ndecl++], 128, "%s", name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[128], type[32];
			assert_int_equal(
			        sscanf(line + 7, "%127s %31s", name, type), 2);
			assert_string_equal(name, fam); /* right after HELP */
			assert_true(!strcmp(type, "gauge") ||
			            !strcmp(type, "counter"));
			continue;
		}
		assert_true(line[0] != '#');
		/* sample: name[{labels}] value */
		size_t nlen =
		        strspn(line, "abcdefghijklmnopqrstuvwxyz"
		                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (nlen != strlen(fam) || strncmp(line, fam, nlen))
			fail_msg("sample '%s' outside its family %s", line,
			         fam);
		char *q = line + nlen;
		if (*q == '{') {
			char *end = strchr(q, '}');
			assert_non_null(end);
			/* k="v"(,k="v")* with safe values */
			for (char *s = q + 1; s < end;) {
				size_t k = strspn(
				        s, "abcdefghijklmnopqrstuvwxyz_");
				assert_true(k > 0);
				assert_true(s[k] == '=' && s[k + 1] == '"');
				char *close = strchr(s + k + 2, '"');
				assert_non_null(close);
				s = close + 1;
				if (*s == ',')
					s++;
			}
			q = end + 1;
		}
		assert_true(*q == ' ');
		char *vend;
		strtod(q + 1, &vend);
		if (vend == q + 1 || *vend)
			fail_msg("bad value in '%s'", line);
	}
}

static void test_text(void **state)
{
	struct rig r;
	struct vm *web, *db;
	char *text;
	size_t len;
	(void)state;

	rig_setup(&r, 1000);
	rig_start(&r);
	web = fake_vm(&r, "web");
	web->max = 2 * GiB;
	web->min = 256 * MiB;
	web->target = 1536 * MiB;
	web->target_known = true;
	web->actual = 1540 * MiB;
	web->actual_known = true;
	web->pinned = true;
	web->shares = 2000;
	web->stats = json_tokener_parse(
	        "{\"stat-swap-in\": 4096, \"stat-total-memory\": 2147483648, "
	        "\"stat-odd.name-x\": 3}");
	web->stats_updated = 1795420800;
	db = fake_vm(&r, "db");
	db->stats = json_tokener_parse("{\"stat-swap-in\": 8192}");
	r.bd.cnt.decisions[BLN_REASON_RECLAIM_IDLE] = 7;
	bd_host_read(r.conf.proc_root, &r.bd.host);

	text = bd_metrics_text(&r.bd, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	check_format(text);
	static const char *const want[] = {
	        "\nballoond_up 1\n",
	        "\nballoond_vm_target_bytes{vm=\"web\"} 1610612736\n",
	        "\nballoond_vm_actual_bytes{vm=\"web\"} 1614807040\n",
	        "\nballoond_vm_max_bytes{vm=\"web\"} 2147483648\n",
	        "\nballoond_vm_min_bytes{vm=\"web\"} 268435456\n",
	        "\nballoond_vm_shares{vm=\"web\"} 2000\n",
	        "\nballoond_vm_pinned{vm=\"web\"} 1\n",
	        "\nballoond_vm_pinned{vm=\"db\"} 0\n",
	        "\nballoond_vm_state{vm=\"db\",state=\"connecting\"} 1\n",
	        "\nballoond_vm_state{vm=\"db\",state=\"lost\"} 0\n",
	        "\nballoond_guest_swap_in{vm=\"web\"} 4096\n",
	        "\nballoond_guest_swap_in{vm=\"db\"} 8192\n",
	        "\nballoond_guest_total_memory{vm=\"web\"} 2147483648\n",
	        "\nballoond_guest_odd_name_x{vm=\"web\"} 3\n",
	        "\nballoond_host_memory_total_bytes 17179869184\n",
	        "\nballoond_host_memory_available_bytes 12884901888\n",
	        "\nballoond_host_psi_available 1\n",
	        "\nballoond_host_state{state=\"high\"} 1\n",
	        ("\nballoond_policy_decisions_total{reason=\"reclaim-idle\"} "
	         "7\n"),
	        "\nballoond_vms 2\n",
	        "\n# TYPE balloond_qmp_errors_total counter\n",
	        "\n# TYPE balloond_loop_iterations_total counter\n",
	        "\n# TYPE balloond_policy_step_seconds gauge\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("missing:%s", want[i]);
	/* db has no target yet: no sample rather than a made-up 0 */
	assert_null(strstr(text, "balloond_vm_target_bytes{vm=\"db\"}"));
	/* db reports no total memory: no sample for it */
	assert_null(strstr(text, "balloond_guest_total_memory{vm=\"db\"}"));
	free(text);
	rig_teardown(&r);
}

static void test_stat_names(void **state)
{
	char out[64];
	(void)state;

	bd_metrics_stat_name("stat-swap-in", out, sizeof(out));
	assert_string_equal(out, "swap_in");
	bd_metrics_stat_name("stat-htlb-pgalloc", out, sizeof(out));
	assert_string_equal(out, "htlb_pgalloc");
	bd_metrics_stat_name("weird name{}", out, sizeof(out));
	assert_string_equal(out, "weird_name__");
	bd_metrics_stat_name("stat-a-very-long-name", out, 6);
	assert_string_equal(out, "a_ver");
}

static void test_addr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	(void)state;

	assert_int_equal(bd_metrics_parse_addr("10.1.2.3:9100", &ss, &len), 0);
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 9100);
	assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a010203);
	/* no address: loopback, never all interfaces by accident */
	assert_int_equal(bd_metrics_parse_addr(":9100", &ss, &len), 0);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(bd_metrics_parse_addr("9100", &ss, &len), 0);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(bd_metrics_parse_addr("localhost:1", &ss, &len), 0);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(bd_metrics_parse_addr("[::1]:9100", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(bd_metrics_parse_addr("1.2.3.4:70000", &ss, &len),
	                 -EINVAL);
	assert_int_equal(bd_metrics_parse_addr("1.2.3.4:", &ss, &len), -EINVAL);
	assert_int_equal(bd_metrics_parse_addr("host.example:80", &ss, &len),
	                 -EINVAL);
	assert_int_equal(bd_metrics_parse_addr("[::1:80", &ss, &len), -EINVAL);
}

/* GET @url from the daemon's metrics port, pumping its loop. */
static char *http_get(struct rig *r, const char *url)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char req[256], *buf = calloc(1, 1 << 20);
	size_t n = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint64_t end = bc_now_ms() + 5000;

	sa.sin_port = htons((uint16_t)bd_metrics_port(&r->bd));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", url);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	bc_set_nonblock(fd);
	while (bc_now_ms() < end) {
		bd_run_once(&r->bd, 5);
		ssize_t got = read(fd, buf + n, (1 << 20) - 1 - n);
		if (got == 0)
			break;
		if (got > 0)
			n += (size_t)got;
	}
	close(fd);
	return buf;
}

static void test_http(void **state)
{
	struct rig r;
	char *resp;
	(void)state;

	rig_setup(&r, 1000);
	bd_conf_set_str(&r.conf.metrics, "127.0.0.1:0");
	rig_start(&r);
	assert_true(bd_metrics_port(&r.bd) > 0);
	resp = http_get(&r, "/metrics");
	assert_non_null(strstr(resp, " 200 "));
	assert_non_null(
	        strstr(resp, "text/plain; version=0.0.4; charset=utf-8"));
	assert_non_null(strstr(resp, "\nballoond_up 1\n"));
	check_format(strstr(resp, "\r\n\r\n") + 4);
	free(resp);
	resp = http_get(&r, "/other");
	assert_non_null(strstr(resp, " 404 "));
	free(resp);
	/* the loop counted its iterations, visible on the next scrape */
	assert_true(r.bd.cnt.loops > 0);
	rig_teardown(&r);
}

/* "Off by default": a config file with a [daemon] section but no metrics
 * key (and no --metrics, which main.c would apply over it) leaves the
 * endpoint off; with the key it is on. */
static void test_off_by_default(void **state)
{
	struct rig r;
	char err[256];
	(void)state;

	rig_setup(&r, 1000);
	rig_write(&r, "a.conf",
	          "[daemon]\nlog_level = error\n\n[policy]\n"
	          "enabled = no\n");
	assert_int_equal(
	        bd_conf_load(&r.conf, rig_path(&r, "a.conf"), err, sizeof(err)),
	        0);
	assert_null(r.conf.metrics);
	rig_start(&r);
	assert_null(r.bd.metrics);
	assert_int_equal(bd_metrics_port(&r.bd), 0);
	rig_stop(&r);

	rig_write(&r, "b.conf", "[daemon]\nmetrics = 127.0.0.1:0\n");
	assert_int_equal(
	        bd_conf_load(&r.conf, rig_path(&r, "b.conf"), err, sizeof(err)),
	        0);
	assert_string_equal(r.conf.metrics, "127.0.0.1:0");
	rig_start(&r);
	assert_non_null(r.bd.metrics);
	assert_true(bd_metrics_port(&r.bd) > 0);
	rig_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_text),
	        cmocka_unit_test(test_stat_names),
	        cmocka_unit_test(test_addr),
	        cmocka_unit_test(test_http),
	        cmocka_unit_test(test_off_by_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
