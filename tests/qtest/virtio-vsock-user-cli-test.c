/*
 * QTest for virtio-vsock-user's command line: defaults, errors, help
 *
 * The CID defaults are read back from the device's config space, as the
 * guest driver reads them, on microvm (virtio-mmio) and pc (virtio-pci).
 * Errors, warnings and help texts are compared exactly: QEMU is run on its
 * own for those, and its output captured.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "libqos/virtio-vsock-user.h"

typedef struct CliRun {
    char *out;
    char *err;
    int status;
} CliRun;

static const char *qemu_binary(void)
{
    const char *bin = g_getenv("QTEST_QEMU_BINARY");

    g_assert(bin);
    return bin;
}

/* QEMU's name for itself in messages: its binary's base name */
static char *qemu_progname(void)
{
    return g_path_get_basename(qemu_binary());
}

static const char *machine_args(const char *machine)
{
    return !strcmp(machine, "microvm") ?
           "-M microvm,acpi=off,rtc=off,pit=off,pic=off" : "-M pc";
}

static const char *device_name(const char *machine)
{
    return !strcmp(machine, "microvm") ? "virtio-vsock-user" :
           "virtio-vsock-user-pci";
}

/* Run QEMU with @args (split on spaces) to its exit; capture its output. */
static void cli_run(CliRun *r, const char *args)
{
    g_autofree char *cmd = g_strdup_printf("%s -nodefaults -display none "
                                           "-m 64M %s", qemu_binary(),
                                           args);
    g_auto(GStrv) argv = g_strsplit(cmd, " ", -1);
    g_autoptr(GError) err = NULL;

    memset(r, 0, sizeof(*r));
    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          &r->out, &r->err, &r->status, &err));
}

static void cli_free(CliRun *r)
{
    g_free(r->out);
    g_free(r->err);
}

/*
 * QEMU stops at the device with exactly the message @msg, prefixed as
 * QEMU prefixes errors about a command-line option.
 */
static void assert_device_error(const char *machine, const char *props,
                                const char *msg)
{
    g_autofree char *prog = qemu_progname();
    g_autofree char *dev = g_strdup_printf("%s,%s", device_name(machine),
                                           props);
    g_autofree char *args = g_strdup_printf("%s -device %s",
                                            machine_args(machine), dev);
    g_autofree char *want = g_strdup_printf("%s: -device %s: %s\n",
                                            prog, dev, msg);
    CliRun r;

    cli_run(&r, args);
    g_assert_false(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    g_assert_cmpstr(r.err, ==, want);
    cli_free(&r);
}

static void test_default_cid(const void *data)
{
    static const struct {
        const char *cids;
        uint64_t guest_cid;
    } cases[] = {
        { "", 3 },                          /* parent-cid 2: first guest */
        { "parent-cid=3", 16 },             /* the first enclave CID */
        { "parent-cid=5", 3 },
        { "guest-cid=42,parent-cid=3", 42 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        QVsockTest t;

        qvsock_test_init_cids(&t, data, cases[i].cids, QVSOCK_RX_ONE_BUFFER,
                              "", "");
        g_assert_cmpuint(qvirtio_config_readq(t.vdev, 0), ==,
                         cases[i].guest_cid);
        qvsock_test_free(&t);
    }
}

/* A Unix socket path one byte too long for sockaddr_un (107 at most). */
static char *long_unix_path(void)
{
    g_autofree char *name = g_strnfill(108 - strlen("/tmp/"), 'x');

    return g_strconcat("/tmp/", name, NULL);
}

/* Device properties out of range: each refused with its own message. */
static void test_prop_errors(const void *data)
{
    g_autofree char *path = long_unix_path();
    g_autofree char *long_uds = g_strdup_printf("uds-path=%s", path);
    g_autofree char *long_msg = g_strdup_printf(
        "uds-path: Unix socket path '%s' is too long (at most 107 bytes)",
        path);

    assert_device_error(data, "max-connections=0",
                        "max-connections 0 is out of range 1..65536");
    assert_device_error(data, "max-connections=65537",
                        "max-connections 65537 is out of range 1..65536");
    assert_device_error(data, "uds-path=", "uds-path must not be empty");
    assert_device_error(data, "uds-connect-timeout=0",
                        "uds-connect-timeout must be at least 1 ms");
    assert_device_error(data, long_uds, long_msg);
}

static void test_cid_errors(const void *data)
{
    static const char *const reserved = "is reserved (0, 1 and 2 are the "
        "hypervisor, local and host CIDs, 4294967295 is any); "
        "use 3..4294967294";
    static const uint64_t reserved_cids[] = { 0, 1, 2, 4294967295ULL };

    assert_device_error(data, "guest-cid=99999999999",
                        "guest-cid 99999999999 is out of range; CIDs are "
                        "32-bit, use 3..4294967294");
    assert_device_error(data, "guest-cid=4294967296",
                        "guest-cid 4294967296 is out of range; CIDs are "
                        "32-bit, use 3..4294967294");
    for (size_t i = 0; i < G_N_ELEMENTS(reserved_cids); i++) {
        g_autofree char *props = g_strdup_printf("guest-cid=%" PRIu64,
                                                 reserved_cids[i]);
        g_autofree char *msg = g_strdup_printf("guest-cid %" PRIu64 " %s",
                                               reserved_cids[i], reserved);

        assert_device_error(data, props, msg);
    }
    assert_device_error(data, "parent-cid=4294967295",
                        "parent-cid 4294967295 is reserved (any)");
    assert_device_error(data, "guest-cid=3,parent-cid=3",
                        "parent-cid and guest-cid are both 3; they must "
                        "differ");
}

/*
 * Two vsock devices in one guest: one warning, whichever transport;
 * none when the devices say the guest uses several.  The third device
 * fails on purpose, so that QEMU exits once every device is realized.
 */
static void test_multiple_warning(const void *data)
{
    const char *m = data;
    const char *dev = device_name(m);
    g_autofree char *prog = qemu_progname();
    g_autofree char *fail = g_strdup_printf("%s,guest-cid=0", dev);
    g_autofree char *fail_msg = g_strdup_printf(
        "%s: -device %s: guest-cid 0 is reserved (0, 1 and 2 are the "
        "hypervisor, local and host CIDs, 4294967295 is any); "
        "use 3..4294967294\n", prog, fail);
    g_autofree char *args = g_strdup_printf(
        "%s -device %s -device %s,guest-cid=5 -device %s,guest-cid=6 "
        "-device %s", machine_args(m), dev, dev, dev, fail);
    g_autofree char *want = g_strdup_printf(
        "%s: -device %s,guest-cid=5: warning: this guest has 2 "
        "virtio-vsock devices; a Linux guest drives only the first it "
        "finds (set allow-multiple=on on a device meant for a guest that "
        "uses several)\n%s", prog, dev, fail_msg);
    g_autofree char *quiet = g_strdup_printf(
        "%s -device %s -device %s,guest-cid=5,allow-multiple=on "
        "-device %s", machine_args(m), dev, dev, fail);
    CliRun r;

    cli_run(&r, args);
    g_assert_cmpstr(r.err, ==, want);
    cli_free(&r);

    cli_run(&r, quiet);
    g_assert_cmpstr(r.err, ==, fail_msg);
    cli_free(&r);
}

/* Every property of ours explains itself in -device help. */
static void test_help(const void *data)
{
    static const char *const lines[] = {
        "  guest-cid=<uint64>     - the guest's CID, 3..4294967294 "
        "(default: 16 when parent-cid is 3, otherwise 3)",
        "  parent-cid=<uint32>    - the CID whose connections end in QEMU: "
        "heartbeat, uds-path, vsock-user-forward objects, vsock-user "
        "chardevs (default: 2)",
        "  heartbeat=<OnOffAuto>  - answer the Nitro Enclaves heartbeat on "
        "the parent's port 9000 once per boot, with nitro-heartbeat on a "
        "vsock-user chardev (auto: when parent-cid is 3 and no "
        "vsock-user-link carries it) (default: auto)",
        "  max-connections=<uint32> - connections at once, 1..65536; a "
        "REQUEST beyond them gets RST (default: 1024)",
        "  buf-size=<uint32>      - receive buffer per connection "
        "(buf_alloc announced to the guest), 4096..67108864 bytes "
        "(default: 262144)",
        "  uds-path=<str>         - hybrid vsock Unix socket: a host client "
        "sends \"CONNECT <port>\\n\"; guest connections to port P go to "
        "<uds-path>_P; SOCK_SEQPACKET clients use <uds-path>.seqpacket",
        "  seqpacket=<OnOffAuto>  - offer SOCK_SEQPACKET "
        "(VIRTIO_VSOCK_F_SEQPACKET); auto means on (default: auto)",
        "  uds-connect-timeout=<uint32> - milliseconds a host client on "
        "uds-path has to send its CONNECT line (default: 5000)",
        "  allow-multiple=<bool>  - the guest drives several virtio-vsock "
        "devices: no warning when there is more than one (Linux drives "
        "only the first) (default: off)",
        "  connections=<uint64>   - connections open now (read-only "
        "counter)",
        "  host-bad-connect=<uint64> - host clients on uds-path with a "
        "malformed CONNECT line (read-only counter)",
    };
    const char *m = data;
    g_autofree char *args = g_strdup_printf("-device %s,help",
                                            device_name(m));
    g_auto(GStrv) out = NULL;
    CliRun r;

    cli_run(&r, args);
    g_assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
    out = g_strsplit(r.out, "\n", -1);
    for (size_t i = 0; i < G_N_ELEMENTS(lines); i++) {
        g_assert_true(g_strv_contains((const char *const *)out, lines[i]));
    }
    /*
     * Nothing lacks a description but what every PCI device has from
     * QEMU's PCI core and virtio-pci proxy.
     */
    for (char **l = out; *l; l++) {
        static const char *const pci_core[] = {
            "  busnr=<busnr>", "  failover_pair_id=<str>", "  romfile=<str>",
            "  sriov-pf=<str>",
            "  virtio-backend=<child<virtio-vsock-user>>", NULL,
        };

        if (!g_str_has_prefix(*l, "  ") || strstr(*l, " - ")) {
            continue;
        }
        g_assert_cmpstr(m, ==, "pc");
        g_assert_true(g_strv_contains(pci_core, *l));
    }
    cli_free(&r);
}

/*
 * vsock-user-link objects refuse bad input at creation, each message
 * exactly; a link that no device takes is said to stay unused.  No
 * socket is opened: the links connect (server=off) only once a device
 * takes them, and every case fails or exits before.
 */
static void test_link_errors(const void *data)
{
    static const struct {
        const char *objects;        /* -object ... (space separated) */
        const char *device_props;   /* appended to the device */
        const char *msg;
    } cases[] = {
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=2", "",
          "vsock-user-link 'l0': cids=2 is reserved (0, 1, 2 and "
          "4294967295); a linked guest has a CID in 3..4294967294" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "cids=6", "", "vsock-user-link 'l0': cids=6 is given "
          "twice" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "max-queued=10", "", "vsock-user-link 'l0': max-queued 10 "
          "is below one packet (65580 bytes)" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "tls-creds=nope", "", "vsock-user-link 'l0': tls-creds "
          "'nope' is not a tls-creds-x509 or tls-creds-psk object" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "server=on", "", "vsock-user-link 'l0': Failed to bind "
          "socket to /nonexistent/l.sock: No such file or directory" },
        /* checked when the link attaches, once the machine is ready */
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=5",
          ",guest-cid=5", "vsock-user-link 'l0': cids include 5, the CID "
          "of its device's own guest" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/a.sock,cids=6 "
          "-object vsock-user-link,id=l1,addr=unix:/nonexistent/b.sock,"
          "cids=7,cids=6", ",guest-cid=5", "vsock-user-links 'l0' and "
          "'l1' both carry CID 6; a CID is reachable through one link "
          "only" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "vsock=nope", "", "vsock-user-link 'l0': vsock=nope: no "
          "virtio-vsock-user device has that id" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "hello-timeout-ms=0", "", "vsock-user-link 'l0': "
          "hello-timeout-ms 0 is out of range: 1 to 3600000 (a peer that "
          "connects and never completes its hello is dropped after it)" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "relay-cids=1", "", "vsock-user-link 'l0': relay-cids=1 "
          "is reserved (0, 1, 2 and 4294967295); a linked guest has a CID "
          "in 3..4294967294" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "relay-cids=6", "", "vsock-user-link 'l0': relay-cids=6 "
          "is in this link's own cids; relay-cids names CIDs of the "
          "device's other links" },
    };
    const char *m = data;
    g_autofree char *prog = qemu_progname();

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *dev = g_strdup_printf("%s%s", device_name(m),
                                               cases[i].device_props);
        g_autofree char *args = g_strdup_printf("%s -object %s -device %s",
                                                machine_args(m),
                                                cases[i].objects, dev);
        g_autofree char *want = g_strdup_printf("%s: %s\n", prog,
                                                cases[i].msg);
        CliRun r;

        cli_run(&r, args);
        g_assert_false(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        g_assert_cmpstr(r.err, ==, want);
        cli_free(&r);
    }
}

/*
 * A forward's socket type: a clear error for what cannot work.  Values
 * QAPI rejects name the option; complete() runs after the command line.
 */
static void test_forward_type_errors(const void *data)
{
    static const struct {
        const char *obj;
        bool located;
        const char *msg;
    } cases[] = {
        { "vsock-user-forward,id=f,guest-port=1,connect=tcp:127.0.0.1:1,"
          "socket-type=seqpacket", false,
          "vsock-user-forward 'f': socket-type=seqpacket needs a unix:PATH "
          "address" },
        { "vsock-user-forward,id=f,guest-port=1,connect=unix:/x,"
          "socket-type=dgram", true,
          "Parameter 'socket-type' does not accept value 'dgram'" },
    };
    g_autofree char *prog = qemu_progname();

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *args = g_strdup_printf("%s -object %s",
                                                machine_args(data),
                                                cases[i].obj);
        g_autofree char *where = g_strdup_printf(" -object %s:",
                                                 cases[i].obj);
        g_autofree char *want = NULL;
        const char *at = "";
        CliRun r;

        if (cases[i].located) {
            at = where;
        }
        want = g_strdup_printf("%s:%s %s\n", prog, at, cases[i].msg);
        cli_run(&r, args);
        g_assert_false(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        g_assert_cmpstr(r.err, ==, want);
        cli_free(&r);
    }
}

/*
 * Forwards and links with a missing, contradictory or impossible option:
 * QEMU stops with exactly one message.  QAPI's own errors name the
 * option they come from; the objects' checks name the object.  The
 * device is there so that forwards and links attach (where a duplicate
 * guest port is found); no socket is opened before every check passed.
 */
static void test_object_errors(const void *data)
{
    g_autofree char *path = long_unix_path();
    g_autofree char *fwd_long = g_strdup_printf(
        "vsock-user-forward,id=f,guest-port=5,connect=unix:%s", path);
    g_autofree char *fwd_long_msg = g_strdup_printf(
        "vsock-user-forward 'f': Unix socket path '%s' is too long (at "
        "most 107 bytes)", path);
    g_autofree char *link_long = g_strdup_printf(
        "vsock-user-link,id=l0,addr=unix:%s,cids=6", path);
    g_autofree char *link_long_srv = g_strdup_printf(
        "vsock-user-link,id=l0,addr=unix:%s,cids=6,server=on", path);
    g_autofree char *link_long_msg = g_strdup_printf(
        "vsock-user-link 'l0': addr: Unix socket path '%s' is too long (at "
        "most 107 bytes)", path);
    const struct {
        const char *objects;        /* -object ... (space separated) */
        bool located;               /* prefixed with "-object OBJECTS:" */
        const char *msg;
    } cases[] = {
        { "vsock-user-forward,id=f,connect=unix:/nonexistent/a", true,
          "Parameter 'guest-port' is missing" },
        { "vsock-user-forward,id=f,guest-port=5,connect=unix:/nonexistent/a,"
          "listen=unix:/nonexistent/b", false,
          "vsock-user-forward 'f': set exactly one of connect=ADDRESS "
          "(guest to host) and listen=ADDRESS (host to guest)" },
        { "vsock-user-forward,id=f,guest-port=5", false,
          "vsock-user-forward 'f': set exactly one of connect=ADDRESS "
          "(guest to host) and listen=ADDRESS (host to guest)" },
        /* forwards attach in reverse order: the first one finds the port */
        { "vsock-user-forward,id=f1,guest-port=5,connect=unix:/nonexistent/a "
          "-object vsock-user-forward,id=f2,guest-port=5,"
          "connect=unix:/nonexistent/b", false,
          "vsock-user-forward 'f1': guest port 5 is already forwarded" },
        { fwd_long, false, fwd_long_msg },
        { "vsock-user-link,id=l0,cids=6", true,
          "Parameter 'addr' is missing" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock", true,
          "Parameter 'cids' is missing" },
        { "vsock-user-link,id=l0,addr=unix:/nonexistent/l.sock,cids=6,"
          "reconnect-ms=0", false,
          "vsock-user-link 'l0': reconnect-ms must be at least 1" },
        { link_long, false, link_long_msg },
        { link_long_srv, false, link_long_msg },
        /* no descriptor 99 in QEMU: connected (resolved at once) ... */
        { "vsock-user-link,id=l0,addr=fd:99,cids=6", false,
          "vsock-user-link 'l0': addr: File descriptor '99' is not a "
          "socket" },
        /* ... and listening (resolved by the listener) */
        { "vsock-user-link,id=l0,addr=fd:99,cids=6,server=on", false,
          "vsock-user-link 'l0': File descriptor '99' is not a socket" },
    };
    const char *m = data;
    g_autofree char *prog = qemu_progname();

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *args = g_strdup_printf("%s -object %s -device %s",
                                                machine_args(m),
                                                cases[i].objects,
                                                device_name(m));
        g_autofree char *want = NULL;
        CliRun r;

        if (cases[i].located) {
            want = g_strdup_printf("%s: -object %s: %s\n", prog,
                                   cases[i].objects, cases[i].msg);
        } else {
            want = g_strdup_printf("%s: %s\n", prog, cases[i].msg);
        }
        cli_run(&r, args);
        g_assert_false(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
        g_assert_cmpstr(r.err, ==, want);
        cli_free(&r);
    }
}

static const QVsockTestCase tests[] = {
    { "default-cid", test_default_cid },
    { "cid-errors", test_cid_errors },
    { "prop-errors", test_prop_errors },
    { "multiple-warning", test_multiple_warning },
    { "help", test_help },
    { "link-errors", test_link_errors },
    { "forward-type-errors", test_forward_type_errors },
    { "object-errors", test_object_errors },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qvsock_add_tests("virtio-vsock-user-cli", tests, G_N_ELEMENTS(tests));
    return g_test_run();
}
