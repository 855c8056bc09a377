/* fuzz_qmp.c: the QMP reader, fed what a (compromised) QEMU could send on
 * its monitor socket: greeting, replies, events. */
#include "qmp/qmp.h"

#include <unistd.h>
#include <sys/socket.h>

static void on_event(struct qmp *q, const char *event, json_t *data, int64_t qemu_us, int64_t recv_us, void *opaque)
{
	(void)q; (void)event; (void)data; (void)qemu_us; (void)recv_us; (void)opaque;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	int sv[2];
	struct ferr err;

	if (size > 200000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	struct qmp *q = qmp_new(sv[0], on_event, NULL);
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off > 65536 ? 65536 : size - off);
		if (n <= 0)
			break;
		off += n;
		if (qmp_on_readable(q, &err) < 0)
			break;
		char sink[65536];
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	qmp_free(q);
	close(sv[1]);
	return 0;
}
