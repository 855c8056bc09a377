/* main.c: the ferry CLI: global options and the table of verbs. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct verb verbs[] = {
	{ "create", cmd_create, "create CFG",
	  "Starts the VM described by the config file CFG (docs/config.md) on the agent." },
	{ "list", cmd_list, "list",
	  "Lists the agent's VMs: name, state, memory, vcpus, accelerator, QEMU pid, uptime." },
	{ "status", cmd_status, "status NAME",
	  "Shows one VM in detail, with its effective config." },
	{ "shutdown", cmd_shutdown, "shutdown NAME [--timeout S]",
	  "Asks the guest to power off (ACPI power button, pressed again every 5 s, as a\n"
	  "guest may miss one) and waits up to S seconds (default 60). If it is still\n"
	  "running then, ferry says so and leaves it running." },
	{ "destroy", cmd_destroy, "destroy NAME",
	  "Ends the VM's QEMU at once (QMP quit, then SIGKILL after 3 s)." },
	{ "console", cmd_console, "console NAME",
	  "Attaches to the VM's serial console. Ctrl-] detaches. With stdin not a\n"
	  "terminal, sends stdin, prints what comes back for a moment, and exits." },
	{ "migrate", cmd_migrate,
	  "migrate NAME DEST [--downtime-ms N] [--bandwidth MBPS] [--parallel N] [--auto-converge]\n"
	  "              [--postcopy off|on|auto] [--timeout S] [--copy-storage] [--insecure | --qemu-tls]\n"
	  "              [--probe ADDR[:methods] [--timeline FILE.svg]] [--force]\n"
	  "       ferry [-H HOST] migrate NAME DEST --cold suspend|reboot [--disk-passes 1|2] [--keep-source]\n"
	  "              [--timeout S] ...\n"
	  "       ferry [-H HOST] migrate --cancel NAME | --recover NAME",
	  "Moves running VM NAME live from this host (-H) to host DEST (pre-copy by default).\n"
	  "The stream is TLS with the hosts' pre-shared key unless --insecure: QEMU sends\n"
	  "it in plaintext to a local relay of ferry's that carries it in 16 KiB TLS\n"
	  "records (--qemu-tls: QEMU's own TLS channel instead, 3-5x slower here). Disks\n"
	  "must be on shared storage (shared=yes), or --copy-storage mirrors them to DEST.\n"
	  "  --downtime-ms N   QEMU's downtime target, kept as given (default: 1 ms,\n"
	  "                    then 10, 20, 40 ... up to 1000 while pre-copy does not\n"
	  "                    converge)\n"
	  "  --bandwidth MBPS  cap in MB/s (default: none; QEMU's own default is 128 MiB/s)\n"
	  "  --parallel N      N parallel streams (multifd)\n"
	  "  --auto-converge   throttle the guest's vCPUs when pre-copy does not converge\n"
	  "  --postcopy MODE   off (default), on (switch at once), or auto (when\n"
	  "                    pre-copy stops converging, or after --timeout or 30 s)\n"
	  "  --timeout S       give up after S s (auto: switch to post-copy instead)\n"
	  "  --cold suspend    cold migration: pause the guest, send its whole state,\n"
	  "                    resume it on DEST (the same running guest; it is paused\n"
	  "                    for the whole copy). Not with --postcopy, --auto-converge,\n"
	  "                    --downtime-ms or --copy-storage (see --disk-passes)\n"
	  "  --cold reboot     cold migration: power the guest off (ACPI; --timeout S\n"
	  "                    bounds it, default 60 s), boot it on DEST from the same\n"
	  "                    config. DEST is checked first; if it cannot boot it after\n"
	  "                    all, it boots here again. No stream: not with the stream\n"
	  "                    options (--bandwidth, --parallel, ...)\n"
	  "  --disk-passes N   cold moves: disks not on shared storage travel with the disk\n"
	  "                    mover to DEST's state folder. 2 (default): a first pass while\n"
	  "                    the guest runs, then only what changed once it stopped; 1:\n"
	  "                    everything after it stopped. The source's files are removed\n"
	  "                    once the guest runs on DEST, unless --keep-source\n"
	  "  --cancel NAME     cancel a running migration (before switchover)\n"
	  "  --recover NAME    resume a post-copy migration whose link broke\n"
	  "  --probe ADDR[:M]  probe the guest at ADDR during the move (methods M, default\n"
	  "                    icmp,http,guest) and add the ICMP, service and guest gaps\n"
	  "                    (heartbeats from ferry-guest, UDP port 7778) to the record;\n"
	  "                    in the lab run ferry from the client: ferry lab exec client ...\n"
	  "  --timeline F.svg  with --probe: draw the move on a millisecond axis (the whole\n"
	  "                    move, then its switchover): each probe's replies, QEMU's\n"
	  "                    phases, passes, STOP and RESUME, the RARP and ARP frames\n"
	  "                    that announced the guest (noted from a packet socket: root)\n"
	  "Ends with a result record (--json for all of it). If anything fails before\n"
	  "switchover, the guest keeps running on the source." },
	{ "check", cmd_check,
	  "check NAME DEST [--live | --cold suspend|reboot] [--copy-storage] [--insecure]\n"
	  "              [--postcopy off|on|auto] [--auto-converge] [--downtime-ms N]",
	  "Checks, before anything moves, every requirement of moving running VM NAME\n"
	  "from this host (-H) to DEST with these options (those of ferry migrate), and\n"
	  "says for each: ok, warning or blocking, what was seen on both hosts, and why\n"
	  "it matters for this kind of move (docs/requirements.md). It measures the\n"
	  "link's round trip, the hosts' clock offset, the VM bridges' L2 segment and\n"
	  "the guest's dirty rate (1 s), and estimates the move's time. ferry migrate\n"
	  "runs the same checks (without the dirty rate) and refuses a move that one\n"
	  "blocks; migrate --force overrides the blocking checks marked overridable.\n"
	  "Exits 1 when a check blocks." },
	{ "evacuate", cmd_evacuate,
	  "evacuate HOST [--to HOST[,HOST...]] [--max-parallel N] [--dry-run] [--no-check]\n"
	  "              [--probe NAME=ADDR[:methods]]... [migrate options]",
	  "Moves every running or paused guest off HOST, live, as before its maintenance.\n"
	  "Each guest is first checked against each destination (ferry check: blocking\n"
	  "requirements, its dirty rate, the link's rate, the move's estimate; about 2 s\n"
	  "each; --no-check plans from the guests' sizes alone), then the moves run: the\n"
	  "longest first, each to the destination that holds the least guest memory so\n"
	  "far, up to N at once (default 2), and alone a guest that dirties memory over\n"
	  "half its share of the link. A guest no destination can take stays, named;\n"
	  "a move that fails leaves its guest running on HOST and the others go on.\n"
	  "  --to HOSTS        the destinations (default: every other host of the hosts file)\n"
	  "  --dry-run         print the plan and change nothing\n"
	  "  --probe NAME=ADDR probe that guest during its move (as migrate --probe)\n"
	  "  migrate options   --insecure, --qemu-tls, --parallel, --postcopy,\n"
	  "                    --auto-converge, --downtime-ms, --bandwidth, --timeout,\n"
	  "                    --copy-storage, --force: for every move\n"
	  "Ends with a line per guest (destination, outcome, mode, pause, total time,\n"
	  "ICMP gap when probed, why not) and the whole evacuation's time; --json: all of\n"
	  "it with each move's record. Exits 1 when a guest is still on HOST." },
	{ "convert", cmd_convert, "convert pv2hvm IN.img OUT [--size SIZE] [--format raw|qcow2|vmdk|vhd] [--cloud aws [--s3 s3://BUCKET/PREFIX/]] [--verify [--verify-timeout SECS]]",
	  "Turns a Xen PV guest's disk (one bare ext2/3/4 file system, as xen-tools makes\n"
	  "them) into a disk a PC BIOS boots: an MBR with one partition at 1 MiB, the file\n"
	  "system copied in and grown to fill it (--size: the whole disk, default the\n"
	  "input's + 1 MiB), fstab and the kernel line on UUID= and ttyS0, GRUB written for\n"
	  "BIOS boot; checks the kernel and the initramfs's disk drivers; writes raw,\n"
	  "qcow2, VMDK (streamOptimized) or VHD (fixed). Runs on this machine's files,\n"
	  "mounts nothing, never writes IN; OUT must be new and appears only when whole.\n"
	  "--verify (root): boots OUT from its disk alone under QEMU, on a snapshot overlay\n"
	  "and in a network namespace of its own, and waits for its web page (default\n"
	  "300 s). --cloud aws: checks Amazon VM Import's requirements from the image and\n"
	  "writes OUT.aws/ (containers.json, snapshot.json, import.sh with the exact aws\n"
	  "commands for the bucket --s3 names) (docs/convert.md, docs/cloud.md)." },
	{ "import-xl", cmd_import_xl, "import-xl XL.cfg [-o OUT.cfg]",
	  "Reads a Xen xl guest config (name, memory, vcpus, kernel, ramdisk, extra, root,\n"
	  "disk in its positional, legacy and key=value forms with file:/phy:/tap: targets,\n"
	  "vif, builder/type, bootloader) and writes a ferry config (to OUT, a new file, or\n"
	  "to stdout), then lists on stderr each key it could not translate and why (--json:\n"
	  "{config, notes}). Nothing the config names is opened. A PV guest's disk then\n"
	  "boots as HVM after ferry convert pv2hvm." },
	{ "probe", cmd_probe,
	  "probe TARGET [--method icmp,udp,tcp,http,guest] [--interval-ms N] [--duration S]\n"
	  "              [--threshold-ms N] [--timeout-ms N] [--csv FILE]",
	  "Measures TARGET's availability from here: ICMP echo (raw socket), UDP echo\n"
	  "(ferry-guest, port 7777), TCP connect and HTTP GET (port 80), each sent on a\n"
	  "fixed schedule, overlapping (defaults: icmp and udp every 1 ms, tcp 50 ms,\n"
	  "http 20 ms). Runs for --duration or until Ctrl-C, then prints per method the\n"
	  "loss, the longest gap between replies and the gaps over --threshold-ms\n"
	  "(default 10). --csv writes every probe (send and reply times, microseconds).\n"
	  "guest asks ferry-guest in TARGET (UDP port 7777, renewed every second) for its\n"
	  "1 kHz heartbeats, collects them on UDP port 7778 here and reports the guest\n"
	  "gap, the heartbeats lost in it and the guest clock's jump.\n"
	  "Exits 1 if nothing answered." },
	{ "bench", cmd_bench,
	  "bench --vm NAME --hosts SRC,DST [--runs N] [--modes live,live-postcopy,cold-suspend,cold-reboot,command]\n"
	  "              [--probe ADDR[:methods]] [--load http:RATE|mem:MBPS] [--command 'CMD']\n"
	  "              [--migrate-opt OPT]... [--csv FILE] [--json FILE] [--report FILE.html]\n"
	  "       ferry bench --from-json FILE [--report FILE.html]",
	  "Migrates NAME back and forth between SRC and DST, N runs per mode (default\n"
	  "10) after one warm-up run that is not counted, each measured from outside\n"
	  "with --probe (run ferry where the guest is reachable: in the lab, with\n"
	  "ferry lab exec client ...). Then, per mode and downtime definition (pause\n"
	  "window, QEMU downtime, ICMP gap, service gap, guest gap, total time): n,\n"
	  "mean, median, standard deviation, min, max, p95 and the 95% bootstrap\n"
	  "confidence interval of the median (docs/downtime.md).\n"
	  "  --modes M         live (pre-copy), live-postcopy, cold-suspend, cold-reboot,\n"
	  "                    command\n"
	  "  --command 'CMD'   mode command: CMD moves the guest (any tool, e.g. a plain\n"
	  "                    QEMU script); ferry probes around it. CMD gets FERRY_VM,\n"
	  "                    FERRY_SRC and FERRY_DST in its environment\n"
	  "  --load http:RATE  HTTP requests/s at the guest during the whole bench\n"
	  "  --load mem:MBPS   the guest dirties MBPS MB/s of memory (ferry-guest)\n"
	  "  --migrate-opt OPT passes OPT to every ferry migrate (repeat per word)\n"
	  "  --csv, --json     every run's record, and (JSON) the statistics\n"
	  "  --report FILE     one self-contained HTML page: the statistics, a box plot\n"
	  "                    per definition across modes, and per mode the timeline of\n"
	  "                    one migration (probe replies, pause window, gaps)\n"
	  "  --from-json FILE  no runs: the table and report of an earlier --json file\n"
	  "Exits 1 if any run failed." },
	{ "bench-command", cmd_bench_command, "bench-command CMD PROBE",
	  "Internal to ferry bench: runs CMD between the start and end of a probe." },
	{ "pause", cmd_pause, "pause NAME | unpause NAME",
	  "Pauses the VM's vCPUs (QMP stop) or resumes them (QMP cont)." },
	{ "unpause", cmd_pause, "unpause NAME",
	  "Resumes a paused VM (QMP cont)." },
	{ "history", cmd_history, "history [--last N] [--since SECONDS] [NAME]",
	  "Lists the migrations this host's agent took part in (of NAME only, if given):\n"
	  "the newest 100, or N with --last (a reply holds at most 512 KiB of records);\n"
	  "--since keeps those started at or after that time (seconds since 1970)." },
	{ "copy", cmd_copy, "copy PATH|POOL/VOLUME HOST:PATH|HOST:POOL/VOLUME [--streams N]",
	  "Copies a disk image from this agent's host (-H) to another host with the disk\n"
	  "mover (docs/mover.md): agent to agent in TLS, only the blocks that hold data,\n"
	  "zeros as holes, zstd where it pays, every block hashed and checked before it\n"
	  "is written, the whole image checked before it is put in place. Paths are\n"
	  "inside the hosts' vm_dirs; POOL/VOLUME names a volume of a dir, path or smb\n"
	  "pool. The target must not exist. A copy cut short leaves TARGET.part and its\n"
	  "journals: the same command again sends only what is missing. --streams N:\n"
	  "N connections at once, each with a share of the image (default 2; 1-8)." },
	{ "save", cmd_save, "save NAME FILE [--keep-running | -c] [--with-disks]",
	  "Saves the VM's whole state (memory and devices) into FILE on its host, like\n"
	  "xl save: the guest is paused, QEMU streams its state into FILE (no temporary\n"
	  "copy) behind a header naming the QEMU version and machine type that wrote it,\n"
	  "then the VM ends; --keep-running (xl save -c) lets it run on. Its disks stay\n"
	  "where they are: restore needs them (as they were: a guest kept running goes\n"
	  "on writing to them); --with-disks packs each disk that is not on shared\n"
	  "storage beside it (FILE.disk-VDEV, the disk mover's format, every block\n"
	  "hashed), and restore then runs the guest on copies of those, wherever it is\n"
	  "restored. FILE is new, in the host's vm_dirs (docs/save.md)." },
	{ "restore", cmd_restore, "restore FILE [--paused | -p]",
	  "Starts the VM saved in FILE on this host (-H; the same or another one whose\n"
	  "agent can read FILE and the guest's disks), running, or paused with --paused.\n"
	  "FILE is checked whole first (its checksum); a file written by another machine\n"
	  "type, or by a newer QEMU than this host's, is refused with the reason." },
	{ "storage", cmd_storage,
	  "storage bench POOL... [--runs N] [--seconds S] [--jobs 1,4,16] [--depths 1,32]\n"
	  "              [--wrk-seconds S] [--connections N] [--no-migrate] [--image DIR]\n"
	  "              [--csv] [--report FILE.html]\n"
	  "       ferry storage bench POOL... --fault [--fault-at S] [--fault-for S] [--fault-after S]\n"
	  "              [--no-migrate] [--connections N] [--report FILE.html]\n"
	  "       ferry storage bench --from-json FILE [--csv] [--report FILE.html]",
	  "On the lab: compares storage pools (docs/storage.md). For each POOL defined on\n"
	  "hosts a and b, the Debian Apache guest (make apache-guest) is copied onto it\n"
	  "and measured: fio from the host side (through qemu-nbd) and in the guest\n"
	  "(sequential 1 MiB and random 4 KiB, read and write, O_DIRECT, each queue\n"
	  "depth and number of jobs), with the client's and the server's CPU per MB;\n"
	  "wrk against Apache, cold and warm; and, on a pool both hosts share, a live\n"
	  "a -> b and a cold b -> a move under load (no disk byte may move).\n"
	  "  --runs N          repetitions (default 3); medians with the 95% CI\n"
	  "  --seconds S       each fio job (default 5)\n"
	  "  --jobs LIST       parallel fio jobs (default 1,4,16)\n"
	  "  --depths LIST     queue depths (default 1,32)\n"
	  "  --wrk-seconds S   each wrk run (default 10), --connections N (default 16)\n"
	  "  --no-migrate      skip the moves\n"
	  "  --csv             every measurement as CSV instead of the table\n"
	  "  --report FILE     an HTML page with the pools side by side\n"
	  "  --from-json FILE  print (or --csv, --report) a saved --json record again\n"
	  "--fault instead runs, for each POOL (nfs, smb, rbd), the guest under wrk (a 1 s\n"
	  "run after another) with a writer inside it (4 KiB O_DIRECT, 20/s) while the\n"
	  "pool's server stops (the NFS server, the SMB server, Ceph host ceph3 of three)\n"
	  "and returns, a live move a -> b 5 s into the outage (not with --no-migrate):\n"
	  "answers per second over time, the longest I/O stall, errors, recovery, survival.\n"
	  "  --fault-at S      stop the server S s in (default 15)\n"
	  "  --fault-for S     for S s (default 30), --fault-after S: then S s more (30)\n"
	  "--json prints the whole record (every run and the summary)." },
	{ "pool", cmd_pool,
	  "pool define NAME TYPE LOCATION [--uid N --gid N] [--credentials FILE] [--ceph-conf FILE --ceph-user NAME] | list | info NAME | undefine NAME",
	  "The agent's storage pools: named places where volumes (disk images) live.\n"
	  "  TYPE dir    LOCATION a folder of this host (created; not shared)\n"
	  "  TYPE path   a folder the operator mounted (a kernel NFS or CIFS mount):\n"
	  "              shared with the hosts that define the same location\n"
	  "  TYPE nfs    nfs://SERVER/EXPORT (SERVER an IP address), opened by QEMU's\n"
	  "              own NFS client, nothing mounted; --uid/--gid: who ferry is on\n"
	  "              the server (with root squash on, root is nobody there)\n"
	  "  TYPE smb    smb://SERVER/SHARE, --credentials FILE (username=, password=;\n"
	  "              root's, mode 0600): the agent keeps a FUSE mount of the share\n"
	  "              (smbnetfs; QEMU has no SMB client)\n"
	  "  TYPE rbd    rbd://POOL of the Ceph cluster --ceph-conf FILE names (root's,\n"
	  "              in the agent's ceph_dirs, default /etc/ceph; its keyring\n"
	  "              named in it), as --ceph-user NAME: raw RBD images made and\n"
	  "              read through librbd, opened by QEMU's rbd driver\n"
	  "Local folders must be inside the agent's vm_dirs. A pool defined with the\n"
	  "same location on two hosts is shared: migrations between them copy none of\n"
	  "its volumes. A VM config names a volume as \"pool=NAME,vol=VOLUME,...\".\n"
	  "define checks that the pool is reachable and writable; info shows its\n"
	  "capacity, free space and volumes; undefine leaves the volumes in place." },
	{ "vol", cmd_vol, "vol create POOL NAME SIZE | import POOL NAME FILE | export POOL NAME FILE [--format raw|qcow2]\n"
	  "       ferry [-H HOST] vol list POOL | delete POOL NAME",
	  "A pool's volumes: create an empty image of SIZE (64M, 10G; qcow2 unless\n"
	  "--format raw; RBD pools: raw; refused if it exists); import FILE into a new volume, or\n"
	  "export one into the new file FILE (both sparse; FILE on the agent's host,\n"
	  "inside its vm_dirs; a qcow2 image that names another file is refused); list\n"
	  "them; delete one (refused while a VM of this host uses it)." },
	{ "lab", cmd_lab, "lab up [--no-agents] [--allow-insecure] [--ceph] | down | status | exec HOST CMD... | stop|start storage|nfs|smb|ceph1..3",
	  "The built-in two-host lab, made of network namespaces on this machine:\n"
	  "hosts a and b (hypervisors), client and storage; a VM network 10.77.0.0/24\n"
	  "and a management/migration network 10.78.0.0/24 (docs/lab.md).\n"
	  "  up      build it (idempotent) and start ferryd on a and b;\n"
	  "          --allow-insecure lets the agents take --insecure moves;\n"
	  "          --ceph adds a Ceph cluster: storage hosts ceph1-3 (10.78.0.11-13),\n"
	  "          a monitor and an OSD on each, pool lab-rbd on a and b\n"
	  "  down    remove everything it made, even after a crash\n"
	  "  status  what exists and runs\n"
	  "  exec    run CMD inside host HOST's namespace\n"
	  "  stop, start  end a storage host's servers, or start them again: storage\n"
	  "          (NFS and SMB) or ceph1-3 (its monitor and OSD; ceph1: the manager)" },
};

static const char global_usage[] =
	"Usage: ferry [-H HOST] [--json] VERB [ARGS...]\n"
	"\n"
	"ferry moves running VMs between hosts and measures what it cost the guest.\n"
	"\n"
	"Global options:\n"
	"  -H, --host NAME     talk to the agent on host NAME (from the hosts file);\n"
	"                      without it, the local agent's Unix socket\n"
	"      --hosts FILE    hosts file (default: $FERRY_HOSTS, /etc/ferry/hosts,\n"
	"                      /run/ferry-lab/hosts)\n"
	"      --socket PATH   local agent socket (default: $FERRY_SOCKET,\n"
	"                      /run/ferry/ferryd.sock)\n"
	"      --key FILE      pre-shared key file (default: the hosts file's key=)\n"
	"      --json          machine-readable output\n"
	"      --timeout S     seconds to wait for an answer (default 120)\n"
	"  -h, --help          this text; 'ferry VERB --help' for a verb\n"
	"\n"
	"Verbs:\n";

bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

int cli_usage(const char *verb, bool to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strcmp(verbs[i].name, verb))
			continue;
		fprintf(f, "Usage: ferry [-H HOST] [--json] %s\n\n%s\n", verbs[i].usage, verbs[i].help);
		return to_stderr ? 2 : 0;
	}
	return 2;
}

static void print_global_usage(FILE *f)
{
	fputs(global_usage, f);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %s\n", verbs[i].usage);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "hosts", required_argument, NULL, 'F' },
		{ "socket", required_argument, NULL, 'S' },
		{ "key", required_argument, NULL, 'K' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct cli cli = { .timeout_ms = 120000 };
	int c;

	/* '+': stop at the verb; its options are its own. */
	while ((c = getopt_long(argc, argv, "+H:h", opts, NULL)) != -1) {
		switch (c) {
		case 'H': cli.host = optarg; break;
		case 'F': cli.hosts = optarg; break;
		case 'S': cli.socket = optarg; break;
		case 'K': cli.key = optarg; break;
		case 'j': cli.json = true; break;
		case 'T': {
			long long v;
			if (cli_parse_num("--timeout", optarg, 1, 86400, &v) < 0)
				return 2;
			cli.timeout_ms = (int)v * 1000;
			break;
		}
		case 'V': printf("ferry %s\n", FERRY_VERSION); return 0;
		case 'h': print_global_usage(stdout); return 0;
		default: print_global_usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		print_global_usage(stderr);
		return 2;
	}
	const char *verb = argv[optind];
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (strcmp(verbs[i].name, verb))
			continue;
		if (want_help(argc - optind, argv + optind) && strcmp(verb, "lab"))
			return cli_usage(verb, false);
		optind++;
		/* Verbs see argv[0] = verb name, like a program of their own. */
		return verbs[i].fn(&cli, argc - optind + 1, argv + optind - 1);
	}
	fprintf(stderr, "ferry: unknown verb '%s'; 'ferry --help' lists them\n", verb);
	return 2;
}
