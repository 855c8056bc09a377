/* qmp.c: QEMU Machine Protocol client, transport layer. */
#include "qmp/qmp.h"
#include "net/stream.h"
#include "util/jsonframe.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

struct pending {
	long id;
	qmp_reply_cb cb;
	void *opaque;
	struct pending *next;
};

enum qmp_phase { QMP_GREETING, QMP_NEGOTIATING, QMP_READY };

struct qmp {
	int fd;
	enum qmp_phase phase;
	struct jsonframe in;
	struct buf out;        /* bytes on the wire, in order */
	struct buf held;       /* commands queued before QMP_READY */
	struct pending *pending, **pending_tail;
	long next_id;
	bool oob;              /* out-of-band execution negotiated */
	qmp_event_cb on_event;
	void *opaque;
	int trace_fd;          /* qmp_set_trace; -1: none */
};

/* One line per message in the trace: {"us":realtime,"out"|"in":message}. */
static void trace(struct qmp *q, const char *dir, json_t *m)
{
	if (q->trace_fd < 0)
		return;
	json_t *t = json_pack("{s:I, s:O}", "us", (json_int_t)time_real_us(), dir, m);
	char *s = json_dumps(t, JSON_COMPACT);
	if (s) {
		size_t n = strlen(s);
		s[n] = '\n';
		write_all(q->trace_fd, s, n + 1);
		free(s);
	}
	json_decref(t);
}

void qmp_set_trace(struct qmp *q, int fd)
{
	if (q->trace_fd >= 0)
		close(q->trace_fd);
	q->trace_fd = fd;
}

struct qmp *qmp_new(int fd, qmp_event_cb on_event, void *opaque)
{
	struct qmp *q = xcalloc(1, sizeof(*q));

	fd_set_nonblock(fd);
	q->fd = fd;
	q->on_event = on_event;
	q->opaque = opaque;
	q->next_id = 1;
	q->pending_tail = &q->pending;
	q->trace_fd = -1;
	return q;
}

void qmp_free(struct qmp *q)
{
	struct pending *p, *next;

	if (!q)
		return;
	close(q->fd);
	q->fd = -1;
	if (q->trace_fd >= 0)
		close(q->trace_fd);
	for (p = q->pending; p; p = next) {
		next = p->next;
		if (p->cb)
			p->cb(q, NULL, p->opaque);
		free(p);
	}
	jsonframe_free(&q->in);
	buf_free(&q->out);
	buf_free(&q->held);
	free(q);
}

int qmp_fd(const struct qmp *q) { return q->fd; }
bool qmp_ready(const struct qmp *q) { return q->phase == QMP_READY; }
bool qmp_want_write(const struct qmp *q) { return q->out.len > 0; }

static void encode(struct qmp *q, struct buf *b, long id, const char *cmd, json_t *args, bool oob)
{
	json_t *m = json_pack("{s:s, s:I}", oob ? "exec-oob" : "execute", cmd, "id", (json_int_t)id);
	char *s;

	if (args)
		json_object_set_new(m, "arguments", args);
	trace(q, "out", m);
	s = json_dumps(m, JSON_COMPACT);
	buf_append(b, s, strlen(s));
	buf_append(b, "\r\n", 2);
	free(s);
	json_decref(m);
}

static long send_cmd(struct qmp *q, const char *cmd, json_t *args, qmp_reply_cb cb, void *opaque, bool oob)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->id = q->next_id++;
	p->cb = cb;
	p->opaque = opaque;
	*q->pending_tail = p;
	q->pending_tail = &p->next;
	encode(q, q->phase == QMP_READY ? &q->out : &q->held, p->id, cmd, args, oob && q->oob);
	return p->id;
}

long qmp_send(struct qmp *q, const char *cmd, json_t *args, qmp_reply_cb cb, void *opaque)
{
	return send_cmd(q, cmd, args, cb, opaque, false);
}

long qmp_send_oob(struct qmp *q, const char *cmd, json_t *args, qmp_reply_cb cb, void *opaque)
{
	return send_cmd(q, cmd, args, cb, opaque, true);
}

bool qmp_has_oob(const struct qmp *q) { return q->oob; }

const char *qmp_reply_error(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *d;

	if (!e)
		return NULL;
	d = json_string_value(json_object_get(e, "desc"));
	return d ? d : "QEMU reported an error without a description";
}

static int64_t event_ts(json_t *msg)
{
	json_t *ts = json_object_get(msg, "timestamp");
	json_int_t s = json_integer_value(json_object_get(ts, "seconds"));
	json_int_t us = json_integer_value(json_object_get(ts, "microseconds"));

	return ts ? (int64_t)s * 1000000 + us : 0;
}

static int handle(struct qmp *q, json_t *msg, int64_t recv_us, struct ferr *err)
{
	json_t *id;
	struct pending **pp, *p;

	if (q->phase == QMP_GREETING) {
		if (!json_object_get(msg, "QMP")) {
			ferr_set(err, "QMP peer did not start with a greeting");
			return -EPROTO;
		}
		/* The negotiation uses id 0: ours never are. Take out-of-band
		 * execution when offered (post-copy recovery needs it). */
		json_t *caps = json_object_get(json_object_get(msg, "QMP"), "capabilities"), *c;
		size_t i;
		json_array_foreach(caps, i, c)
			if (json_is_string(c) && !strcmp(json_string_value(c), "oob"))
				q->oob = true;
		json_t *m = json_pack("{s:s, s:i}", "execute", "qmp_capabilities", "id", 0);
		if (q->oob)
			json_object_set_new(m, "arguments", json_pack("{s:[s]}", "enable", "oob"));
		char *s = json_dumps(m, JSON_COMPACT);
		buf_append(&q->out, s, strlen(s));
		buf_append(&q->out, "\r\n", 2);
		free(s);
		json_decref(m);
		q->phase = QMP_NEGOTIATING;
		return 0;
	}
	if (json_object_get(msg, "event")) {
		const char *ev = json_string_value(json_object_get(msg, "event"));
		if (ev && q->on_event)
			q->on_event(q, ev, json_object_get(msg, "data"), event_ts(msg), recv_us, q->opaque);
		return 0;
	}
	id = json_object_get(msg, "id");
	if (q->phase == QMP_NEGOTIATING) {
		if (!json_is_integer(id) || json_integer_value(id) != 0) {
			ferr_set(err, "QMP peer answered something else than qmp_capabilities");
			return -EPROTO;
		}
		if (qmp_reply_error(msg)) {
			ferr_set(err, "QMP capability negotiation failed: %s", qmp_reply_error(msg));
			return -EPROTO;
		}
		q->phase = QMP_READY;
		buf_append(&q->out, q->held.data, q->held.len);
		buf_free(&q->held);
		return 0;
	}
	if (!json_is_integer(id)) {
		ferr_set(err, "QMP reply without our id");
		return -EPROTO;
	}
	for (pp = &q->pending; (p = *pp); pp = &p->next) {
		if (p->id != json_integer_value(id))
			continue;
		*pp = p->next;
		if (q->pending_tail == &p->next)
			q->pending_tail = pp;
		if (p->cb)
			p->cb(q, msg, p->opaque);
		free(p);
		return 0;
	}
	ferr_set(err, "QMP reply to unknown command id %lld", (long long)json_integer_value(id));
	return -EPROTO;
}

int qmp_on_readable(struct qmp *q, struct ferr *err)
{
	char chunk[16384];
	ssize_t n;
	json_t *msg;
	int r;

	for (;;) {
		n = read(q->fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			ferr_set(err, "QMP read failed: %s", strerror(errno));
			return -errno;
		}
		if (n == 0) {
			ferr_set(err, "QMP connection closed by QEMU");
			return -EPIPE;
		}
		jsonframe_feed(&q->in, chunk, n);
		if ((size_t)n < sizeof(chunk))
			break;
	}
	int64_t now = time_real_us();
	while ((r = jsonframe_next(&q->in, &msg, err)) == 1) {
		trace(q, "in", msg);
		r = handle(q, msg, now, err);
		json_decref(msg);
		if (r < 0)
			return r;
	}
	return r < 0 ? -EPROTO : 0;
}

int qmp_on_writable(struct qmp *q)
{
	while (q->out.len) {
		ssize_t n = write(q->fd, q->out.data, q->out.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		buf_consume(&q->out, n);
	}
	return 0;
}

int qmp_connect_unix(const char *path, struct ferr *err)
{
	struct ferr e = {0};
	int fd = sock_connect_unix(path, &e);

	if (fd < 0)
		ferr_set(err, "QMP: %s", e.msg);
	return fd;
}

struct sync_wait {
	bool done;
	json_t *reply;
};

static void sync_cb(struct qmp *q, json_t *reply, void *opaque)
{
	struct sync_wait *w = opaque;

	(void)q;
	w->done = true;
	w->reply = json_incref(reply);
}

int qmp_call(struct qmp *q, const char *cmd, json_t *args, int timeout_ms,
	     json_t **reply, struct ferr *err)
{
	struct sync_wait w = {0};
	int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
	int r = 0;

	qmp_send(q, cmd, args, sync_cb, &w);
	while (!w.done) {
		struct pollfd pfd = { q->fd, POLLIN | (qmp_want_write(q) ? POLLOUT : 0), 0 };
		int64_t left = deadline - time_mono_us();
		if (left <= 0) {
			ferr_set(err, "QMP command %s got no answer within %d ms", cmd, timeout_ms);
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)((left + 999) / 1000)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfd.revents & POLLOUT && (r = qmp_on_writable(q)) < 0)
			break;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR) && (r = qmp_on_readable(q, err)) < 0)
			break;
	}
	if (!w.done) {
		/* The pending entry still points at w, which is about to go. */
		for (struct pending *p = q->pending; p; p = p->next)
			if (p->opaque == &w)
				p->cb = NULL;
	}
	if (r < 0 || !w.reply) {
		if (r == 0)
			ferr_set(err, "QMP connection closed before %s was answered", cmd);
		json_decref(w.reply);
		return r < 0 ? r : -EPIPE;
	}
	if (qmp_reply_error(w.reply)) {
		ferr_set(err, "QMP %s failed: %s", cmd, qmp_reply_error(w.reply));
		json_decref(w.reply);
		return -EIO;
	}
	*reply = json_incref(json_object_get(w.reply, "return"));
	json_decref(w.reply);
	return 0;
}
