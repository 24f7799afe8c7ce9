/* The emulator harness of the phone integration tests (emu.h). */
#include "emu.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

#define PYTHON "/usr/bin/python3"

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* pause_briefly: one poll interval of a wait with a deadline. */
static void
pause_briefly(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static int
run_quiet(const char *cmd)
{
	char *full = xasprintf("%s >/dev/null 2>&1", cmd);
	int rc = system(full);

	free(full);
	return rc == 0 ? 0 : -1;
}

/* make_certs: a CA and a server certificate for 127.0.0.1 (openssl CLI). */
static int
make_certs(struct emu *e)
{
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	char *ext = tu_write(e->dir, "ext.cnf", "basicConstraints=CA:FALSE\n"
	    "keyUsage=digitalSignature,keyEncipherment\n"
	    "extendedKeyUsage=serverAuth\n"
	    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:platform.ringcentral.biz,"
	    "DNS:platform.ringcentral.com\n", 0600);
	char *c1 = xasprintf("cd '%s' && openssl req -x509 %s -keyout ca.key "
	    "-out ca.pem -days 2 -subj '/CN=ringsync test CA' -addext "
	    "'basicConstraints=critical,CA:TRUE' -addext "
	    "'keyUsage=critical,keyCertSign,cRLSign'", e->dir, ec);
	char *c2 = xasprintf("cd '%s' && openssl req %s -keyout srv.key -out "
	    "srv.csr -subj '/CN=127.0.0.1'", e->dir, ec);
	char *c3 = xasprintf("cd '%s' && openssl x509 -req -in srv.csr -CA ca.pem "
	    "-CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile '%s'",
	    e->dir, ext);
	int rc = run_quiet(c1) < 0 || run_quiet(c2) < 0 || run_quiet(c3) < 0 ?
	    -1 : 0;

	free(ext);
	free(c1);
	free(c2);
	free(c3);
	if (rc < 0)
		fprintf(stderr, "emu: openssl could not make the certificates\n");
	e->ca_file = xasprintf("%s/ca.pem", e->dir);
	return rc;
}

static void
child_exec(struct emu *e, char **argv, pid_t parent)
{
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	fd = open(e->stderr_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execv(PYTHON, argv);
	_exit(127);
}

static char **
build_argv(struct emu *e, const char *port_file, const char *const *args)
{
	const char *src = getenv("RINGSYNC_SOURCE_DIR");
	char **v = xcalloc(64, sizeof(*v));
	int n = 0;

	v[n++] = xstrdup(PYTHON);
	v[n++] = xasprintf("%s/tests/emulator/ringemu.py", src ? src : ".");
	v[n++] = xstrdup("--listen");
	v[n++] = xstrdup("127.0.0.1:0");
	v[n++] = xstrdup("--port-file");
	v[n++] = xstrdup(port_file);
	v[n++] = xstrdup("--client-id");
	v[n++] = xstrdup(EMU_CLIENT_ID);
	v[n++] = xstrdup("--client-secret-file");
	v[n++] = xstrdup(e->secret_file);
	v[n++] = xstrdup("--jwt-file");
	v[n++] = xstrdup(e->jwt_file);
	if (e->https) {
		v[n++] = xstrdup("--tls-cert");
		v[n++] = xasprintf("%s/srv.pem", e->dir);
		v[n++] = xstrdup("--tls-key");
		v[n++] = xasprintf("%s/srv.key", e->dir);
	}
	for (int i = 0; args != NULL && args[i] != NULL && n < 62; i++)
		v[n++] = xstrdup(args[i]);
	return v;
}

static int
read_port(const char *path)
{
	FILE *f = fopen(path, "r");
	int port = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

/* wait_port: poll the port file until it appears, the child dies, or 30 s. */
static int
wait_port(struct emu *e, const char *port_file)
{
	double deadline = mono() + 30;
	int status;

	while ((e->port = read_port(port_file)) == 0) {
		if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
			e->pid = 0;
			fprintf(stderr, "emu: the emulator exited (see %s)\n",
			    e->stderr_file);
			return -1;
		}
		if (mono() > deadline) {
			fprintf(stderr, "emu: no port after 30 s\n");
			return -1;
		}
		pause_briefly();
	}
	return 0;
}

int
emu_start(struct emu *e, int https, const char *const *args)
{
	char *port_file;
	char **argv;
	pid_t parent = getpid();
	int rc;

	memset(e, 0, sizeof(*e));
	e->https = https;
	e->dir = (char *)tu_tmpdir();
	e->secret_file = tu_write(e->dir, "client.secret", EMU_CLIENT_SECRET, 0600);
	e->jwt_file = tu_write(e->dir, "jwt.secret", EMU_JWT "\n", 0600);
	e->stderr_file = xasprintf("%s/emu.stderr", e->dir);
	if (https && make_certs(e) < 0)
		return -1;
	port_file = xasprintf("%s/port", e->dir);
	argv = build_argv(e, port_file, args);
	e->pid = fork();
	if (e->pid == 0)
		child_exec(e, argv, parent);
	for (int i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
	rc = e->pid < 0 ? -1 : wait_port(e, port_file);
	free(port_file);
	if (rc == 0)
		e->url = xasprintf("%s://127.0.0.1:%d", https ? "https" : "http",
		    e->port);
	return rc;
}

void
emu_stop(struct emu *e)
{
	double deadline = mono() + 10;
	int status;

	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		while (waitpid(e->pid, &status, WNOHANG) == 0) {
			if (mono() > deadline) {
				kill(e->pid, SIGKILL);
				waitpid(e->pid, &status, 0);
				break;
			}
			pause_briefly();
		}
		e->pid = 0;
	}
	free(e->url);
	free(e->secret_file);
	free(e->jwt_file);
	free(e->ca_file);
	free(e->stderr_file);
	memset(e, 0, sizeof(*e));
}

struct buf {
	char *p;
	size_t n;
};

static size_t
buf_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct buf *b = userp;

	b->p = xrealloc(b->p, b->n + size * nmemb + 1);
	memcpy(b->p + b->n, data, size * nmemb);
	b->n += size * nmemb;
	b->p[b->n] = '\0';
	return size * nmemb;
}

json_t *
emu_call(struct emu *e, const char *method, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL,
	    "Content-Type: application/json");
	char *url = xasprintf("%s%s", e->url, path);
	struct buf b = { NULL, 0 };
	json_t *j = NULL;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (e->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(c) == CURLE_OK && b.p != NULL)
		j = json_loads(b.p, 0, NULL);
	if (j == NULL)
		fprintf(stderr, "emu: control %s %s failed\n", method, path);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(url);
	free(b.p);
	return j;
}

int
emu_post(struct emu *e, const char *path, const char *fmt, ...)
{
	va_list ap;
	char *body;
	json_t *j;
	int ok;

	va_start(ap, fmt);
	body = xvasprintf(fmt, ap);
	va_end(ap);
	j = emu_call(e, "POST", path, body);
	ok = j != NULL && json_is_true(json_object_get(j, "ok"));
	if (j != NULL && !ok)
		fprintf(stderr, "emu: POST %s: %s\n", path,
		    json_string_value(json_object_get(j, "error")));
	json_decref(j);
	free(body);
	return ok ? 0 : -1;
}

json_t *
emu_log(struct emu *e, long long since)
{
	char *path = xasprintf("/_emu/log?since=%lld", since);
	json_t *j = emu_call(e, "GET", path, NULL), *r;

	free(path);
	r = json_incref(json_object_get(j, "requests"));
	json_decref(j);
	return r ? r : json_array();
}

long long
emu_last_seq(struct emu *e)
{
	json_t *log = emu_log(e, 0);
	size_t n = json_array_size(log);
	long long seq = n ? json_integer_value(json_object_get(
	    json_array_get(log, n - 1), "seq")) : 0;

	json_decref(log);
	return seq;
}

int
emu_seed(struct emu *e, json_t *seed)
{
	char *text = json_dumps(seed, JSON_COMPACT);
	json_t *j = emu_call(e, "POST", "/_emu/seed", text);
	int ok = j != NULL && json_is_true(json_object_get(j, "ok"));

	if (j != NULL && !ok)
		fprintf(stderr, "emu: seed: %s\n",
		    json_string_value(json_object_get(j, "error")));
	json_decref(j);
	json_decref(seed);
	free(text);
	return ok ? 0 : -1;
}

void
emu_telephony(const struct emu *e, struct config_telephony *t,
    unsigned int timeout)
{
	memset(t, 0, sizeof(*t));
	t->brand = "TELUS Business Connect";
	t->server = e->url;
	t->client_id = EMU_CLIENT_ID;
	t->client_secret_file = e->secret_file;
	t->jwt_file = e->jwt_file;
	t->tls_ca_cert = e->ca_file;
	t->tls_verify = 1;
	t->timeout = timeout;
}

struct store *
emu_store(void)
{
	char *dir = xasprintf("%s/state", tu_tmpdir());
	struct store *st;
	char err[256];

	if (store_open(dir, 0, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "emu: store: %s\n", err);
		abort();
	}
	free(dir);
	return st;
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(int *)w->data = 1;
}

int
loop_until(struct ev_loop *loop, const int *flag, double timeout)
{
	ev_timer t;
	int expired = 0;

	ev_timer_init(&t, deadline_cb, timeout, 0.);
	t.data = &expired;
	ev_timer_start(loop, &t);
	while (!*flag && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
	return *flag ? 0 : -1;
}

int
count_log(const json_t *log, const char *method, const char *prefix,
    int status, const char *group)
{
	const json_t *e;
	size_t i;
	int n = 0;

	json_array_foreach(log, i, e) {
		const char *m = json_string_value(json_object_get(e, "method"));
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *g = json_string_value(json_object_get(e, "group"));
		long long s = json_integer_value(json_object_get(e, "status"));

		if ((method == NULL || (m && strcmp(m, method) == 0)) &&
		    (prefix == NULL || (p && strncmp(p, prefix,
		    strlen(prefix)) == 0)) && (status == 0 || s == status) &&
		    (group == NULL || (g && strcmp(g, group) == 0)))
			n++;
	}
	return n;
}
