/* lab_storage.c: the lab's storage host. In the namespace ferry-storage:
 *  - NFS: nfs-ganesha (VFS backend; NFSv3, which QEMU's libnfs client speaks,
 *    with rpcbind, and NFSv4), in a mount namespace of its own with a private
 *    /run (rpcbind and ganesha keep their sockets and pid files there, apart
 *    from any the machine runs). Root squash is on: root on a client host is
 *    nobody here. The export belongs to LAB_NFS_UID, mode 0750, and ferry's
 *    NFS pools speak as that identity (docs/storage.md says why).
 *  - SMB: smbd with a private smb.conf (every Samba folder under one place,
 *    no NetBIOS, SMB2.10 and newer), one share, one account whose password
 *    lab up generates (LAB_SMB_CREDENTIALS).
 * No systemd: ferry starts them and lab down ends them with the namespace. */
#include "cli/lab_storage.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STORAGE_NS "/run/netns/ferry-storage"
#define ST LAB_STORE_DIR "/storage"
#define NFS_DIR LAB_NFS_DATA
#define SMB_DIR LAB_SMB_DATA
#define RUN_DIR ST "/run"        /* configs, pid files, logs of the servers */
#define READY_MS 15000

static int write_file(const char *path, int mode, const char *text)
{
	return file_write_atomic(path, text, strlen(text), mode);
}

/* In a child: joins the storage namespace. */
static void enter_storage_ns(void)
{
	int fd = open(STORAGE_NS, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "ferry: cannot enter the storage namespace: %s\n", strerror(errno));
		_exit(127);
	}
	close(fd);
}

/* Does something accept TCP connections on LAB_STORAGE_IP:port (seen from
 * inside the storage namespace)? */
static bool port_open(int port)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return false;
	if (pid == 0) {
		enter_storage_ns();
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, LAB_STORAGE_IP, &sa.sin_addr);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		_exit(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : 1);
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool wait_port(int port)
{
	for (int i = 0; i < READY_MS / 50; i++) {
		if (port_open(port))
			return true;
		usleep(50000);
	}
	return false;
}

static pid_t pid_of(const char *name)
{
	char path[256];
	pid_t pid;

	snprintf(path, sizeof(path), RUN_DIR "/%s.pid", name);
	pid = pid_read_file(path);
	return pid > 0 && pid_alive(pid) ? pid : 0;
}

/* Runs argv in the storage namespace, detached (its own session), output to
 * RUN_DIR/NAME.log; private_run: in a mount namespace of its own with a
 * tmpfs on /run. Its pid goes to RUN_DIR/NAME.pid. */
static pid_t spawn(const char *name, char *const argv[], bool private_run)
{
	char log[256], pidfile[256], text[32];
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	setsid();
	enter_storage_ns();
	if (private_run && (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)) {
		fprintf(stderr, "ferry: cannot give %s a private /run: %s\n", name, strerror(errno));
		_exit(127);
	}
	snprintf(log, sizeof(log), RUN_DIR "/%s.log", name);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dup2(null, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	snprintf(pidfile, sizeof(pidfile), RUN_DIR "/%s.pid", name);
	snprintf(text, sizeof(text), "%d\n", (int)getpid());
	file_write_atomic(pidfile, text, strlen(text), 0600);
	execvp(argv[0], argv);
	_exit(127);
}

static const char ganesha_conf[] =
	"# nfs-ganesha of the ferry lab (written by ferry lab up)\n"
	"NFS_CORE_PARAM {\n"
	"\tProtocols = 3, 4;\n"
	"\tBind_addr = " LAB_STORAGE_IP ";\n"
	"\tMount_Path_Pseudo = true;\n"
	"\tEnable_NLM = false;\n"
	"\tEnable_RQUOTA = false;\n"
	"}\n"
	"NFSV4 {\n"
	"\tGraceless = true;\n"
	"\tRecoveryBackend = fs;\n"
	"\tRecoveryRoot = " RUN_DIR "/ganesha-recovery;\n"
	"}\n"
	"EXPORT {\n"
	"\tExport_Id = 1;\n"
	"\tPath = " NFS_DIR ";\n"
	"\tPseudo = " LAB_NFS_EXPORT ";\n"
	"\tProtocols = 3, 4;\n"
	"\tTransports = TCP;\n"
	"\tSecType = sys;\n"
	"\tSquash = Root_Squash;\n"
	"\tAnonymous_Uid = 65534;\n"
	"\tAnonymous_Gid = 65534;\n"
	"\tAccess_Type = None;\n"
	"\tCLIENT { Clients = 10.78.0.0/24; Access_Type = RW; }\n"
	"\tFSAL { Name = VFS; }\n"
	"}\n"
	"LOG { Default_Log_Level = WARN; }\n";

static int nfs_up(void)
{
	if (pid_of("ganesha") && port_open(2049))
		return 0;
	mkdir_p(NFS_DIR, 0750);
	if (chown(NFS_DIR, LAB_NFS_UID, LAB_NFS_UID) < 0 || chmod(NFS_DIR, 0750) < 0 ||
	    write_file(RUN_DIR "/ganesha.conf", 0600, ganesha_conf) < 0) {
		fprintf(stderr, "ferry: cannot prepare the NFS export %s: %s\n", NFS_DIR, strerror(errno));
		return -1;
	}
	mkdir_p(RUN_DIR "/ganesha-recovery", 0700);
	/* rpcbind and ganesha share one private /run: a shell starts both. */
	char *argv[] = { "sh", "-c",
			 "rpcbind -f -w -h " LAB_STORAGE_IP " & "
			 "for i in $(seq 100); do [ -S /run/rpcbind.sock ] && break; sleep 0.05; done; "
			 "exec ganesha.nfsd -F -f " RUN_DIR "/ganesha.conf -L " RUN_DIR "/ganesha-server.log "
			 "-p /run/ganesha.pid", NULL };
	if (spawn("ganesha", argv, true) < 0 || !wait_port(2049)) {
		fprintf(stderr, "ferry: the NFS server did not start; see " RUN_DIR "/ganesha.log and ganesha-server.log\n");
		return -1;
	}
	return 0;
}

static int smb_conf(void)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "# smbd of the ferry lab (written by ferry lab up)\n"
		 "[global]\n"
		 "\tserver role = standalone server\n"
		 "\tdisable netbios = yes\n"
		 "\tsmb ports = 445\n"
		 "\tinterfaces = " LAB_STORAGE_IP "/24\n"
		 "\tbind interfaces only = yes\n"
		 "\tprivate dir = %s/private\n\tlock directory = %s/lock\n\tstate directory = %s/state\n"
		 "\tcache directory = %s/cache\n\tpid directory = %s/pid\n\tncalrpc dir = %s/ncalrpc\n"
		 "\tlog file = %s/smbd-server.log\n"
		 "\tpassdb backend = tdbsam:%s/private/passdb.tdb\n"
		 "\tusername map = %s/usermap\n"
		 "\tmap to guest = never\n"
		 "\tserver min protocol = SMB2_10\n"
		 "\tload printers = no\n\tprinting = bsd\n\tprintcap name = /dev/null\n\tdisable spoolss = yes\n"
		 "[" LAB_SMB_SHARE "]\n"
		 "\tpath = " SMB_DIR "\n"
		 "\tread only = no\n"
		 "\tvalid users = nobody\n",
		 RUN_DIR "/samba", RUN_DIR "/samba", RUN_DIR "/samba", RUN_DIR "/samba", RUN_DIR "/samba",
		 RUN_DIR "/samba", RUN_DIR, RUN_DIR "/samba", RUN_DIR "/samba");
	static const char *dirs[] = { "private", "lock", "state", "cache", "pid", "ncalrpc" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char d[256];
		snprintf(d, sizeof(d), RUN_DIR "/samba/%s", dirs[i]);
		mkdir_p(d, 0700);
	}
	/* The share's files belong to nobody (an account every Debian has; the
	 * lab adds none to the machine), which clients log in as "ferry". */
	if (write_file(RUN_DIR "/samba/usermap", 0600, "nobody = " LAB_SMB_USER "\n") < 0 ||
	    write_file(RUN_DIR "/smb.conf", 0600, text) < 0)
		return -1;
	mkdir_p(SMB_DIR, 0700);
	if (chown(SMB_DIR, 65534, 65534) < 0 || chmod(SMB_DIR, 0700) < 0)
		return -1;
	return 0;
}

/* The account's password: generated once per lab, kept in the credentials
 * file (mode 0600) that SMB pools name. */
static int smb_account(void)
{
	char pw[33], cred[128];
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(pw + 2 * i, 3, "%02x", raw[i]);
	snprintf(cred, sizeof(cred), "username=%s\npassword=%s\n", LAB_SMB_USER, pw);
	int in[2];
	if (pipe(in) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		close(in[1]);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("smbpasswd", "smbpasswd", "-c", RUN_DIR "/smb.conf", "-a", "-s", "nobody", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	dprintf(in[1], "%s\n%s\n", pw, pw);
	close(in[1]);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return write_file(LAB_SMB_CREDENTIALS, 0600, cred);
}

static int smb_up(void)
{
	if (pid_of("smbd") && port_open(445))
		return 0;
	if (smb_conf() < 0 || (access(LAB_SMB_CREDENTIALS, F_OK) != 0 && smb_account() < 0)) {
		fprintf(stderr, "ferry: cannot set up the SMB share: %s\n", strerror(errno));
		return -1;
	}
	/* --no-process-group: on exit smbd would signal its process group. */
	char *argv[] = { "smbd", "--foreground", "--no-process-group", "-s", RUN_DIR "/smb.conf", NULL };
	if (spawn("smbd", argv, false) < 0 || !wait_port(445)) {
		fprintf(stderr, "ferry: the SMB server did not start; see " RUN_DIR "/smbd.log and smbd-server.log\n");
		return -1;
	}
	return 0;
}

int lab_storage_up(void)
{
	mkdir_p(RUN_DIR, 0700);
	/* Traversable, not listable: the server processes that drop root
	 * (smbd as nobody) reach their share through these. */
	chmod(LAB_STORE_DIR, 0711);
	chmod(ST, 0711);
	if (nfs_up() < 0 || smb_up() < 0)
		return -1;
	printf("lab: storage on " LAB_STORAGE_IP ": NFS nfs://" LAB_STORAGE_IP LAB_NFS_EXPORT
	       " (v3 and v4, root squash on, owner uid %d), SMB //" LAB_STORAGE_IP "/" LAB_SMB_SHARE
	       " (user " LAB_SMB_USER ", " LAB_SMB_CREDENTIALS ")\n", LAB_NFS_UID);
	return 0;
}

json_t *lab_storage_status(void)
{
	return json_pack("{s:{s:I, s:s, s:b, s:i}, s:{s:I, s:s, s:s}}",
			 "nfs", "pid", (json_int_t)pid_of("ganesha"), "url", "nfs://" LAB_STORAGE_IP LAB_NFS_EXPORT,
			 "root_squash", 1, "owner_uid", LAB_NFS_UID,
			 "smb", "pid", (json_int_t)pid_of("smbd"), "url", "smb://" LAB_STORAGE_IP "/" LAB_SMB_SHARE,
			 "credentials", LAB_SMB_CREDENTIALS);
}

/* Each server was started in a session of its own: its whole process group
 * (rpcbind with ganesha, smbd's children) ends with it. */
static void stop(const char *name)
{
	pid_t pid = pid_of(name);

	if (!pid)
		return;
	kill(-pid, SIGTERM);
	for (int i = 0; i < 150 && pid_alive(pid); i++)
		usleep(20000);
	kill(-pid, SIGKILL);
	for (int i = 0; i < 100 && pid_alive(pid); i++)
		usleep(20000);
}

void lab_storage_stop(void)
{
	stop("smbd");
	stop("ganesha");
}

int lab_storage_server(const char *which, bool run)
{
	bool nfs = !strcmp(which, "nfs");

	if (!nfs && strcmp(which, "smb"))
		return -1;
	if (!run) {
		stop(nfs ? "ganesha" : "smbd");
		return 0;
	}
	return nfs ? nfs_up() : smb_up();
}

void lab_storage_remove(void)
{
	rm_rf(LAB_STORE_DIR);
}
