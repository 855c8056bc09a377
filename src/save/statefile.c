/* statefile.c: the saved-guest file's header and trailer (statefile.h). */
#include "save/statefile.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint8_t *statefile_header_encode(const struct statefile_header *h, size_t *len)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "version", 1, "host", h->host,
			      "qemu", h->qemu, "machine", h->machine, "accel", h->accel, "name", h->name, "config",
			      h->config ? h->config : "", "ram_bytes", (json_int_t)h->ram_bytes, "saved_us",
			      (json_int_t)h->saved_us, "running", h->running);
	if (j && h->n_disks > 0) {
		json_t *a = json_array();
		for (int i = 0; i < h->n_disks && i < STATEFILE_MAX_DISKS; i++)
			json_array_append_new(a, json_string(h->disks[i]));
		json_object_set_new(j, "disks", a);
	}
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!s || strlen(s) > STATEFILE_HEADER_MAX) {
		free(s);
		return NULL;
	}
	size_t n = strlen(s);
	uint8_t *out = malloc(STATEFILE_MAGIC_LEN + 4 + n);
	if (out) {
		memcpy(out, STATEFILE_MAGIC, STATEFILE_MAGIC_LEN);
		put_le(out + STATEFILE_MAGIC_LEN, n, 4);
		memcpy(out + STATEFILE_MAGIC_LEN + 4, s, n);
		*len = STATEFILE_MAGIC_LEN + 4 + n;
	}
	free(s);
	return out;
}

/* A string field of at most n-1 bytes, printable. */
static int text_field(json_t *j, const char *k, char *out, size_t n, bool may_be_empty, struct ferr *err)
{
	const char *v = json_string_value(json_object_get(j, k));

	if (!v || strlen(v) >= n || (!may_be_empty && !v[0])) {
		ferr_set(err, "the state file's header has no valid \"%s\"", k);
		return -EINVAL;
	}
	for (const char *c = v; *c; c++) {
		if ((unsigned char)*c < 32 || *c == 127) {
			ferr_set(err, "the state file's header has no valid \"%s\"", k);
			return -EINVAL;
		}
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

int statefile_header_parse(const uint8_t *p, size_t n, struct statefile_header *h, size_t *used, struct ferr *err)
{
	memset(h, 0, sizeof(*h));
	if (n < STATEFILE_MAGIC_LEN + 4)
		return memcmp(p, STATEFILE_MAGIC, n < STATEFILE_MAGIC_LEN ? n : STATEFILE_MAGIC_LEN) ? (ferr_set(err,
			"not a ferry state file"), -EINVAL) : -EAGAIN;
	if (memcmp(p, STATEFILE_MAGIC, STATEFILE_MAGIC_LEN)) {
		ferr_set(err, "not a ferry state file (or another version of it)");
		return -EINVAL;
	}
	uint64_t len = get_le(p + STATEFILE_MAGIC_LEN, 4);
	if (len == 0 || len > STATEFILE_HEADER_MAX) {
		ferr_set(err, "the state file's header length (%llu) is not valid", (unsigned long long)len);
		return -EINVAL;
	}
	if (n < STATEFILE_MAGIC_LEN + 4 + len)
		return -EAGAIN;
	json_error_t je;
	json_t *j = json_loadb((const char *)p + STATEFILE_MAGIC_LEN + 4, len, JSON_REJECT_DUPLICATES, &je);
	int r = -EINVAL;
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "version")) != 1) {
		ferr_set(err, "the state file's header is not valid JSON of version 1");
		goto out;
	}
	if (text_field(j, "host", h->host, sizeof(h->host), false, err) < 0 ||
	    text_field(j, "qemu", h->qemu, sizeof(h->qemu), false, err) < 0 ||
	    text_field(j, "machine", h->machine, sizeof(h->machine), false, err) < 0 ||
	    text_field(j, "accel", h->accel, sizeof(h->accel), false, err) < 0 ||
	    text_field(j, "name", h->name, sizeof(h->name), false, err) < 0)
		goto out;
	if (statefile_version_cmp(h->qemu, h->qemu) != 0) {
		ferr_set(err, "the state file's header names no QEMU version (\"%s\")", h->qemu);
		goto out;
	}
	const char *cfg = json_string_value(json_object_get(j, "config"));
	json_t *ram = json_object_get(j, "ram_bytes"), *when = json_object_get(j, "saved_us");
	if (!cfg || !cfg[0] || !json_is_integer(ram) || json_integer_value(ram) <= 0 ||
	    json_integer_value(ram) > (1LL << 44) || !json_is_integer(when) || json_integer_value(when) < 0 ||
	    !json_is_boolean(json_object_get(j, "running"))) {
		ferr_set(err, "the state file's header lacks the guest's config, RAM size, time or run state");
		goto out;
	}
	json_t *disks = json_object_get(j, "disks"), *d;
	size_t i;
	if (disks && (!json_is_array(disks) || json_array_size(disks) > STATEFILE_MAX_DISKS)) {
		ferr_set(err, "the state file's header has no valid \"disks\"");
		goto out;
	}
	json_array_foreach(disks, i, d) {
		const char *v = json_string_value(d);
		size_t vl = v ? strlen(v) : 0;
		bool ok = vl > 0 && vl < sizeof(h->disks[0]);
		for (size_t k = 0; ok && k < vl; k++)
			ok = (v[k] >= 'a' && v[k] <= 'z') || (v[k] >= '0' && v[k] <= '9');
		if (!ok) {
			ferr_set(err, "the state file's header has no valid \"disks\"");
			goto out;
		}
		memcpy(h->disks[h->n_disks++], v, vl + 1);
	}
	h->config = strdup(cfg);
	h->ram_bytes = json_integer_value(ram);
	h->saved_us = json_integer_value(when);
	h->running = json_is_true(json_object_get(j, "running"));
	*used = STATEFILE_MAGIC_LEN + 4 + len;
	r = h->config ? 0 : -ENOMEM;
out:
	json_decref(j);
	return r;
}

void statefile_header_free(struct statefile_header *h)
{
	free(h->config);
	h->config = NULL;
}

void statefile_trailer_encode(uint64_t stream_len, uint64_t hash, uint8_t out[STATEFILE_TRAILER])
{
	memcpy(out, "FERRYEND", 8);
	put_le(out + 8, stream_len, 8);
	put_le(out + 16, hash, 8);
}

int statefile_trailer_parse(const uint8_t in[STATEFILE_TRAILER], uint64_t *stream_len, uint64_t *hash)
{
	if (memcmp(in, "FERRYEND", 8))
		return -EINVAL;
	*stream_len = get_le(in + 8, 8);
	*hash = get_le(in + 16, 8);
	return 0;
}

static int parse_version(const char *s, long v[3])
{
	char *end;

	v[0] = v[1] = v[2] = 0;
	for (int i = 0; i < 3; i++) {
		if (*s < '0' || *s > '9')
			return -1;
		v[i] = strtol(s, &end, 10);
		if (v[i] > 100000)
			return -1;
		s = end;
		if (!*s)
			return i >= 1 ? 0 : -1;
		if (*s != '.')
			return -1;
		s++;
	}
	return -1;
}

int statefile_version_cmp(const char *a, const char *b)
{
	long x[3], y[3];

	if (parse_version(a, x) < 0 || parse_version(b, y) < 0)
		return -2;
	for (int i = 0; i < 3; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
