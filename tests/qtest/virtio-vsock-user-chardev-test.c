/*
 * QTest for the vsock-user chardev and the nitro-heartbeat device model
 *
 * The test plays the guest twice over: the vsock driver (QVsockTest) and,
 * for a serial port on the chardev, the UART driver (COM1's registers).
 * Frontends: a 16550 (-serial chardev:ID), whose receive side takes one
 * byte at a time and whose transmit side waits for room with a watch; a
 * QMP monitor (-mon chardev=ID), whose greeting shows that OPENED reached
 * it and whose JSON parser shows that CLOSED did; nitro-heartbeat.
 * Every case runs on microvm (virtio-mmio) and pc (virtio-pci).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "libqos/virtio-vsock-user.h"

#define NS_PER_MS 1000000LL
#define COM1 0x3f8
#define UART_LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20
/* the chardev's frontend -> guest buffer (VSOCK_USER_CHR_OUT_MAX) */
#define CHR_OUT_MAX (16 * 1024)

static void init(QVsockTest *t, const char *machine, const char *props,
                 const char *extra)
{
    g_autofree char *p = g_strdup_printf(",id=vs0%s", props);

    qvsock_test_init(t, machine, QVSOCK_RX_ONE_BUFFER, p, extra);
}

/* A guest packet on the connection of guest @port and QEMU's @qport */
static QVsockHdr gpkt(uint32_t port, uint32_t qport, uint16_t op,
                      uint32_t len)
{
    return qvsock_pkt(QVSOCK_USER_PARENT_CID, port, qport, op, len);
}

static void send_bytes(QVsockTest *t, uint32_t port, uint32_t qport,
                       const void *data, size_t len)
{
    qvsock_send(t, gpkt(port, qport, VIRTIO_VSOCK_OP_RW, len), data);
}

static void send_text(QVsockTest *t, uint32_t port, uint32_t qport,
                      const char *text)
{
    send_bytes(t, port, qport, text, strlen(text));
}

/*
 * Receive exactly @len bytes QEMU sends on the connection into @buf;
 * credit updates may come in between, nothing else.
 */
static void recv_bytes(QVsockTest *t, uint32_t port, uint32_t qport,
                       uint8_t *buf, size_t len)
{
    uint8_t p[QVSOCK_RX_BUF_SIZE];
    size_t got = 0;
    QVsockHdr h;

    while (got < len) {
        qvsock_recv(t, &h, p);
        g_assert_cmpuint(h.src_port, ==, qport);
        g_assert_cmpuint(h.dst_port, ==, port);
        if (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
            continue;
        }
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RW);
        g_assert_cmpuint(got + h.len, <=, len);
        memcpy(buf + got, p, h.len);
        got += h.len;
    }
}

/* One line (up to "\r\n") of what QEMU sends on the connection */
static char *recv_line(QVsockTest *t, uint32_t port, uint32_t qport)
{
    GString *s = g_string_new(NULL);
    uint8_t p[QVSOCK_RX_BUF_SIZE];
    QVsockHdr h;

    while (!g_str_has_suffix(s->str, "\r\n")) {
        qvsock_recv(t, &h, p);
        g_assert_cmpuint(h.src_port, ==, qport);
        g_assert_cmpuint(h.dst_port, ==, port);
        if (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
            continue;
        }
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RW);
        g_string_append_len(s, (char *)p, h.len);
        g_assert_null(memchr(s->str, '\n', s->len - 1));
    }
    return g_string_free(s, false);
}

/* The guest asks for QEMU's credit: what QEMU has taken so far */
static uint32_t fwd_cnt(QVsockTest *t, uint32_t port, uint32_t qport)
{
    QVsockHdr h;

    qvsock_send(t, gpkt(port, qport, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0), NULL);
    do {
        qvsock_recv(t, &h, NULL);
    } while (h.op != VIRTIO_VSOCK_OP_CREDIT_UPDATE || h.dst_port != port);
    return h.fwd_cnt;
}

/* The guest closes as Linux does: SHUTDOWN both ways, QEMU answers RST. */
static void guest_close(QVsockTest *t, uint32_t port, uint32_t qport)
{
    QVsockHdr h;

    h = gpkt(port, qport, VIRTIO_VSOCK_OP_SHUTDOWN, 0);
    h.flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
    qvsock_send(t, h, NULL);
    do {
        qvsock_recv(t, &h, NULL);
    } while (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, qport, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
}

/* A guest connect QEMU refuses (RST) */
static void expect_refused(QVsockTest *t, uint32_t port, uint32_t qport)
{
    QVsockHdr h;

    qvsock_send(t, gpkt(port, qport, VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, qport, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
}

/* ---- the guest's UART driver ------------------------------------------- */

static bool uart_has(QVsockTest *t, uint8_t bit)
{
    return qtest_inb(t->qts, COM1 + UART_LSR) & bit;
}

/* The next byte the UART received; the main loop turns between reads. */
static uint8_t uart_getc(QVsockTest *t)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;

    while (!uart_has(t, LSR_DR)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
    }
    return qtest_inb(t->qts, COM1);
}

static void uart_putc(QVsockTest *t, uint8_t c)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;

    while (!uart_has(t, LSR_THRE)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
    }
    qtest_outb(t->qts, COM1, c);
}

/* ---- server=on with a serial port ---------------------------------------- */

#define SERIAL_ARGS "-chardev vsock-user,id=c0,port=5000,vsock=vs0 " \
                    "-serial chardev:c0"

static void test_serial_bytes(const void *data)
{
    const char out[] = "world\r\n";
    uint8_t got[sizeof(out) - 1];
    QVsockTest t;
    uint32_t port;

    init(&t, data, "", SERIAL_ARGS);
    port = qvsock_connect(&t, 5000, QVSOCK_GUEST_BUF_ALLOC);
    /* guest -> serial port, byte for byte */
    send_text(&t, port, 5000, "hello");
    for (int i = 0; i < 5; i++) {
        g_assert_cmpint(uart_getc(&t), ==, "hello"[i]);
    }
    g_assert_false(uart_has(&t, LSR_DR));
    /* serial port -> guest */
    for (int i = 0; i < sizeof(got); i++) {
        uart_putc(&t, out[i]);
    }
    recv_bytes(&t, port, 5000, got, sizeof(got));
    g_assert_cmpmem(got, sizeof(got), out, sizeof(got));
    g_assert_cmpuint(fwd_cnt(&t, port, 5000), ==, 5);
    qvsock_test_free(&t);
}

/*
 * A frontend that stops reading: the UART takes one byte and holds it
 * until its driver reads it.  The rest stays in the device and the
 * guest's credit shows it; every byte arrives, in order, as the UART is
 * read.
 */
static void test_serial_reader_stops(const void *data)
{
    enum { N = 3000 };
    g_autofree uint8_t *pat = qvsock_pattern_new(N, 1);
    QVsockTest t;
    uint32_t port;
    uint8_t first;

    init(&t, data, "", SERIAL_ARGS);
    port = qvsock_connect(&t, 5000, QVSOCK_GUEST_BUF_ALLOC);
    send_bytes(&t, port, 5000, pat, N);
    while (!uart_has(&t, LSR_DR)) {
        /* the main loop turns with every register read */
    }
    g_assert_cmpuint(fwd_cnt(&t, port, 5000), ==, 1);
    g_assert_cmpuint(fwd_cnt(&t, port, 5000), ==, 1);
    first = qtest_inb(t.qts, COM1);
    g_assert_cmpint(first, ==, pat[0]);
    for (int i = 1; i < N; i++) {
        g_assert_cmpint(uart_getc(&t), ==, pat[i]);
    }
    g_assert_cmpuint(fwd_cnt(&t, port, 5000), ==, N);
    g_assert_false(uart_has(&t, LSR_DR));
    qvsock_test_free(&t);
}

/*
 * The guest stops reading: the chardev holds what the UART sends up to
 * its bound, then the UART waits (its transmitter stays busy) until the
 * guest has room; then every byte arrives, in order.
 */
static void test_serial_guest_stops(const void *data)
{
    enum { N = CHR_OUT_MAX + 2 };
    g_autofree uint8_t *pat = qvsock_pattern_new(N + 1, 2);
    g_autofree uint8_t *got = g_malloc(N);
    QVsockHdr h;
    QVsockTest t;
    uint32_t port;
    int sent = 0;

    init(&t, data, "", SERIAL_ARGS);
    port = qvsock_connect(&t, 5000, QVSOCK_GUEST_BUF_ALLOC);
    /* the guest's receive buffer is full: no credit */
    h = gpkt(port, 5000, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
    h.buf_alloc = 0;
    qvsock_send(&t, h, NULL);
    /*
     * The transmitter takes a byte at once while it has room: the
     * chardev's buffer, then the UART's shift and holding registers.
     */
    while (uart_has(&t, LSR_THRE)) {
        g_assert_cmpint(sent, <=, N);
        qtest_outb(t.qts, COM1, pat[sent++]);
    }
    g_assert_cmpint(sent, ==, N);
    qvsock_expect_silence(&t, 1000 * NS_PER_MS);
    g_assert_false(uart_has(&t, LSR_THRE));

    /* room in the guest: the UART goes on, nothing was lost */
    h.buf_alloc = QVSOCK_GUEST_BUF_ALLOC;
    qvsock_send(&t, h, NULL);
    recv_bytes(&t, port, 5000, got, N);
    g_assert_cmpmem(got, N, pat, N);
    uart_putc(&t, pat[N]);
    recv_bytes(&t, port, 5000, got, 1);
    g_assert_cmpint(got[0], ==, pat[N]);
    qvsock_test_free(&t);
}

/*
 * A frontend that writes without waiting for room (isa-debugcon uses
 * qemu_chr_fe_write_all()): QEMU never hangs on it; what the guest has no
 * room for beyond the chardev's buffer is dropped, the rest arrives.
 */
static void test_write_all_frontend(const void *data)
{
    enum { N = CHR_OUT_MAX + 100 };
    g_autofree uint8_t *pat = qvsock_pattern_new(N, 3);
    g_autofree uint8_t *got = g_malloc(CHR_OUT_MAX);
    QVsockTest t;
    QVsockHdr h;
    uint32_t port;

    init(&t, data, "", "-chardev vsock-user,id=d0,port=5001,vsock=vs0 "
         "-device isa-debugcon,chardev=d0,iobase=0x402");
    port = qvsock_connect(&t, 5001, QVSOCK_GUEST_BUF_ALLOC);
    h = gpkt(port, 5001, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
    h.buf_alloc = 0;
    qvsock_send(&t, h, NULL);
    for (int i = 0; i < N; i++) {
        qtest_outb(t.qts, 0x402, pat[i]);
    }
    qvsock_expect_silence(&t, 100 * NS_PER_MS);
    h.buf_alloc = QVSOCK_GUEST_BUF_ALLOC;
    qvsock_send(&t, h, NULL);
    recv_bytes(&t, port, 5001, got, CHR_OUT_MAX);
    g_assert_cmpmem(got, CHR_OUT_MAX, pat, CHR_OUT_MAX);
    qvsock_expect_silence(&t, 100 * NS_PER_MS);
    /* with room again, nothing is dropped */
    qtest_outb(t.qts, 0x402, 'z');
    recv_bytes(&t, port, 5001, got, 1);
    g_assert_cmpint(got[0], ==, 'z');
    qvsock_test_free(&t);
}

/* ---- server=on with a QMP monitor: OPENED, CLOSED, one at a time --------- */

#define QMP_ARGS "-chardev vsock-user,id=m0,port=4444,vsock=vs0 " \
                 "-mon chardev=m0,mode=control"

static void qmp_handshake(QVsockTest *t, uint32_t port, uint32_t qport)
{
    g_autofree char *greeting = recv_line(t, port, qport);
    g_autofree char *ret = NULL;

    g_assert_true(g_str_has_prefix(greeting, "{\"QMP\": {\"version\": "));
    send_text(t, port, qport, "{\"execute\": \"qmp_capabilities\"}\n");
    ret = recv_line(t, port, qport);
    g_assert_cmpstr(ret, ==, "{\"return\": {}}\r\n");
}

static void qmp_query_status(QVsockTest *t, uint32_t port, uint32_t qport)
{
    g_autofree char *ret = NULL;

    send_text(t, port, qport, "{\"execute\": \"query-status\"}\n");
    ret = recv_line(t, port, qport);
    g_assert_cmpstr(ret, ==, "{\"return\": {\"status\": \"running\", "
                    "\"running\": true}}\r\n");
}

static void test_monitor(const void *data)
{
    QVsockTest t;
    uint32_t port;
    QDict *rsp;
    QDict *c;
    g_autofree char *hmp = NULL;

    init(&t, data, "", QMP_ARGS);
    port = qvsock_connect(&t, 4444, QVSOCK_GUEST_BUF_ALLOC);
    qmp_handshake(&t, port, 4444);
    /* one connection at a time: the next is refused */
    expect_refused(&t, port + 100, 4444);
    qmp_query_status(&t, port, 4444);

    /* query-vsock-user names the chardev */
    rsp = qtest_qmp(t.qts, "{'execute': 'query-vsock-user', "
                    "'arguments': {'device': 'vs0', 'port': 4444}}");
    c = qobject_to(QDict, qlist_peek(qdict_get_qlist(
            qobject_to(QDict, qlist_peek(qdict_get_qlist(rsp, "return"))),
            "connections")));
    g_assert_cmpstr(qdict_get_str(c, "endpoint"), ==, "chardev");
    g_assert_cmpstr(qdict_get_str(c, "endpoint-id"), ==, "m0");
    g_assert_cmpstr(qdict_get_str(c, "state"), ==, "established");
    g_assert_false(qdict_haskey(c, "endpoint-address"));
    qobject_unref(rsp);
    hmp = qtest_hmp(t.qts, "info vsock-user vs0 4444");
    g_assert_true(g_str_has_suffix(hmp, " m0\r\n"));

    /* a command left half-way; the guest closes */
    send_text(&t, port, 4444, "{\"execute\": \"qmp_capab");
    guest_close(&t, port, 4444);
    /*
     * The monitor heard CLOSED: the next connection gets a greeting and
     * a fresh parser, in capabilities negotiation again.
     */
    port = qvsock_connect(&t, 4444, QVSOCK_GUEST_BUF_ALLOC);
    qmp_handshake(&t, port, 4444);
    qmp_query_status(&t, port, 4444);
    guest_close(&t, port, 4444);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

/* ---- server=off: QEMU connects, and again ------------------------------ */

static void test_client_reconnect(const void *data)
{
    QVsockTest t;
    uint32_t qport;

    init(&t, data, "", "-chardev vsock-user,id=m1,port=7000,vsock=vs0,"
         "server=off,cid=16,reconnect-ms=1000 -mon chardev=m1,mode=control");
    /* nobody listens in the guest yet */
    qport = qvsock_expect_request(&t, 7000);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 7000, qport,
                               VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_expect_silence(&t, 900 * NS_PER_MS);
    qtest_clock_step(t.qts, 100 * NS_PER_MS);
    /* a second of guest time later; now the guest's listener is back */
    qport = qvsock_expect_request(&t, 7000);
    qvsock_respond(&t, 7000, qport);
    qmp_handshake(&t, 7000, qport);
    qmp_query_status(&t, 7000, qport);
    /* the guest goes away; QEMU connects again a second later */
    guest_close(&t, 7000, qport);
    qvsock_expect_silence(&t, 900 * NS_PER_MS);
    qtest_clock_step(t.qts, 100 * NS_PER_MS);
    qport = qvsock_expect_request(&t, 7000);
    qvsock_respond(&t, 7000, qport);
    qmp_handshake(&t, 7000, qport);
    qvsock_test_free(&t);
}

/* ---- chardev-add: at run time a chardev attaches at once --------------- */

static void chardev_add(QVsockTest *t, const char *id, const char *data,
                        const char *error)
{
    QObject *args = qobject_from_json(data, &error_abort);
    QDict *rsp = qtest_qmp(t->qts, "{'execute': 'chardev-add', 'arguments': "
                           "{'id': %s, 'backend': {'type': 'vsock-user', "
                           "'data': %p}}}", id, args);

    if (error) {
        g_autofree char *want = g_strdup_printf("Failed to add chardev "
                                                "'%s': %s", id, error);

        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                      "desc"), ==, want);
    } else {
        g_assert_true(qdict_haskey(rsp, "return"));
    }
    qobject_unref(rsp);
}

static void test_chardev_add(const void *data)
{
    QVsockTest t;

    init(&t, data, "", "");
    chardev_add(&t, "late", "{'port': 6000, 'vsock': 'nope'}",
                "vsock-user chardev 'late': vsock=nope: no "
                "virtio-vsock-user device has that id");
    chardev_add(&t, "late", "{'port': 4294967295}",
                "vsock-user chardev 'late': port=4294967295 is reserved "
                "(any); use 0 to 4294967294");
    chardev_add(&t, "late", "{'port': 6000, 'vsock': 'vs0'}", NULL);
    chardev_add(&t, "late2", "{'port': 6000}",
                "vsock-user chardev 'late2': port 6000 of "
                "virtio-vsock-user 'vs0' is already taken");
    /* listening, but no frontend is open: refused */
    expect_refused(&t, 3000, 6000);
    qtest_qmp_assert_success(t.qts, "{'execute': 'chardev-remove', "
                             "'arguments': {'id': 'late'}}");
    chardev_add(&t, "late2", "{'port': 6000}", NULL);
    qvsock_test_free(&t);
}

/* ---- nitro-heartbeat on a vsock-user chardev --------------------------- */

static bool heartbeat_done(QVsockTest *t)
{
    QDict *rsp = qtest_qmp(t->qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': '/machine/peripheral/hb', "
                           "'property': 'done'}}");
    bool done = qdict_get_bool(rsp, "return");

    qobject_unref(rsp);
    return done;
}

/*
 * The device named before its chardev, on a device whose own heartbeat
 * is off: one answer per boot; a system reset arms it again.
 */
static void test_heartbeat_device(const void *data)
{
    QVsockTest t;

    init(&t, data, ",heartbeat=off", "-device nitro-heartbeat,id=hb,"
         "chardev=h0 -chardev vsock-user,id=h0,port=9000,vsock=vs0");
    g_assert_false(heartbeat_done(&t));
    qvsock_heartbeat(&t);
    g_assert_true(heartbeat_done(&t));
    /* answered: the next connect is refused at once */
    expect_refused(&t, 4000, QVSOCK_HB_PORT);
    if (!strcmp(data, "microvm")) {
        /* a reset enclave sends its heartbeat again */
        qtest_qmp_assert_success(t.qts, "{'execute': 'system_reset'}");
        qtest_qmp_eventwait(t.qts, "RESET");
        g_assert_false(heartbeat_done(&t));
        /* the transport forgot the guest's page size too */
        qvirtio_mmio_init_device(&t.mmio, t.qts, t.mmio.addr, 4096);
        qvsock_setup_device(&t, true);
        qvsock_heartbeat(&t);
        g_assert_true(heartbeat_done(&t));
    }
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

/* ---- bad input: one line each, naming the option ---------------------- */

static char *run_qemu_error(const char *args)
{
    g_autofree char *cmd = g_strdup_printf("%s -nodefaults -display none "
                                           "-m 64M -M microvm,acpi=off,"
                                           "rtc=off,pit=off,pic=off %s",
                                           g_getenv("QTEST_QEMU_BINARY"),
                                           args);
    g_auto(GStrv) argv = g_strsplit(cmd, " ", -1);
    g_autoptr(GError) gerr = NULL;
    g_autofree char *out = NULL;
    char *err = NULL;
    int status;

    g_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          &out, &err, &status, &gerr));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    g_assert_cmpstr(out, ==, "");
    return err;
}

/* QEMU fails with exactly "PROG: @where@msg\n" */
static void assert_error(const char *args, const char *where,
                         const char *msg)
{
    g_autofree char *err = run_qemu_error(args);
    g_autofree char *prog = g_path_get_basename(
        g_getenv("QTEST_QEMU_BINARY"));
    g_autofree char *want = g_strdup_printf("%s: %s%s\n", prog, where, msg);

    g_assert_cmpstr(err, ==, want);
}

#define DEV "-device virtio-vsock-user,id=vs0,guest-cid=16,parent-cid=3 "

static void test_errors(void)
{
    assert_error(DEV "-chardev vsock-user,id=c,port=4294967296",
                 "-chardev vsock-user,id=c,port=4294967296: ",
                 "port=4294967296 is out of range (0 to 4294967294)");
    assert_error(DEV "-chardev vsock-user,id=c,port=-1",
                 "-chardev vsock-user,id=c,port=-1: ",
                 "port=-1 is out of range (0 to 4294967294)");
    assert_error(DEV "-chardev vsock-user,id=c", "-chardev vsock-user,id=c: ",
                 "port=P is required");
    assert_error(DEV "-chardev vsock-user,id=c,port=5,vsock=nope", "",
                 "vsock-user chardev 'c': vsock=nope: no virtio-vsock-user "
                 "device has that id");
    assert_error("-chardev vsock-user,id=c,port=5", "",
                 "vsock-user chardev 'c': there is no virtio-vsock-user "
                 "device (add one with -device)");
    assert_error(DEV "-device virtio-vsock-user,guest-cid=17,"
                 "allow-multiple=on "
                 "-chardev vsock-user,id=c,port=5", "",
                 "vsock-user chardev 'c': there are several "
                 "virtio-vsock-user devices; name one with vsock=ID");
    assert_error(DEV "-chardev vsock-user,id=c,port=5,cid=16",
                 "-chardev vsock-user,id=c,port=5,cid=16: ",
                 "vsock-user chardev 'c': cid= is for server=off (QEMU "
                 "connects to the guest's CID); a server listens on the "
                 "parent's CID");
    assert_error(DEV "-chardev vsock-user,id=c,port=5,server=off,cid=17",
                 "", "vsock-user chardev 'c': cid=17 is not the guest's CID "
                 "(16) of virtio-vsock-user 'vs0'");
    assert_error(DEV "-chardev vsock-user,id=c,port=9000", "",
                 "vsock-user chardev 'c': port 9000 of virtio-vsock-user "
                 "'vs0' is already taken");
    assert_error(DEV "-device virtio-vsock-user,guest-cid=17,parent-cid=3,"
                 "allow-multiple=on -device virtio-vsock-user,guest-cid=18,"
                 "parent-cid=3,allow-multiple=on",
                 "-device virtio-vsock-user,guest-cid=18,parent-cid=3,"
                 "allow-multiple=on: ",
                 "heartbeat: its chardev would be 'vsock-user-heartbeat', "
                 "which exists already; give the device an id (its "
                 "heartbeat chardev is then ID-heartbeat), or set "
                 "heartbeat=off");
    assert_error(DEV "-device nitro-heartbeat,chardev=nope",
                 "-device nitro-heartbeat,chardev=nope: ",
                 "Property 'nitro-heartbeat.chardev' can't find value "
                 "'nope'");
    assert_error(DEV "-chardev vsock-user,id=c,port=5 -serial chardev:c "
                 "-device nitro-heartbeat,chardev=c",
                 "-device nitro-heartbeat,chardev=c: ",
                 "Property 'nitro-heartbeat.chardev' can't take value 'c': "
                 "chardev 'c' is already in use");
}

/* Both types are there for management tools to find. */
static void test_types(void)
{
    QTestState *qts = qtest_init("-M none");
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-list-types'}");
    QListEntry *e;
    unsigned found = 0;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        const char *name = qdict_get_str(qobject_to(QDict, e->value),
                                         "name");

        found += !strcmp(name, "nitro-heartbeat") +
                 !strcmp(name, "chardev-vsock-user");
    }
    g_assert_cmpuint(found, ==, 2);
    qobject_unref(rsp);
    qtest_quit(qts);
}

static const QVsockTestCase tests[] = {
    { "serial-bytes", test_serial_bytes },
    { "serial-reader-stops", test_serial_reader_stops },
    { "serial-guest-stops", test_serial_guest_stops },
    { "write-all-frontend", test_write_all_frontend },
    { "monitor", test_monitor },
    { "client-reconnect", test_client_reconnect },
    { "heartbeat-device", test_heartbeat_device },
    { "chardev-add", test_chardev_add },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qvsock_add_tests("virtio-vsock-user-chardev", tests, G_N_ELEMENTS(tests));
    qtest_add_func("virtio-vsock-user-chardev/types", test_types);
    if (qvsock_has_machine("microvm")) {
        qtest_add_func("virtio-vsock-user-chardev/errors", test_errors);
    }
    return g_test_run();
}
