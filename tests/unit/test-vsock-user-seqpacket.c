/*
 * Unit tests: SOCK_SEQPACKET message and record boundaries, both ways
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

#define SPORT 7000 /* a listener for both types */
#define EOM VIRTIO_VSOCK_SEQ_EOM
#define EOR VIRTIO_VSOCK_SEQ_EOR

#define check_seq(h, ...) \
    check_hdr_type(h, VIRTIO_VSOCK_TYPE_SEQPACKET, __VA_ARGS__)

static VsockTxResult seq_send(Fixture *f, uint32_t gport, uint32_t flags,
                              uint32_t fwd_cnt, const void *p, uint32_t len)
{
    return fx_send_full(f, GUEST, PARENT, gport, SPORT,
                        VIRTIO_VSOCK_TYPE_SEQPACKET, VIRTIO_VSOCK_OP_RW, flags,
                        GUEST_BUF, fwd_cnt, p, len);
}

/* An engine with a STREAM+SEQPACKET listener on SPORT; one connection. */
static TestConn *seq_init(Fixture *f, const VsockEngineConfig *cfg)
{
    VsockHdr h;

    fx_init_cfg(f, cfg);
    g_assert_nonnull(vsock_engine_listen(f->e, PARENT, SPORT,
                                         VIRTIO_VSOCK_TYPE_STREAM |
                                         VIRTIO_VSOCK_TYPE_SEQPACKET, fx_accept,
                                         f));
    g_assert_cmpint(fx_send_full(f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, 0);
    check_seq(&h, VIRTIO_VSOCK_OP_RESPONSE, SPORT, GPORT, 0, 0, 0);
    return g_ptr_array_index(f->tconns, f->tconns->len - 1);
}

static void expect_msg(TestConn *tc, unsigned i, uint32_t len,
                       uint32_t flags)
{
    g_assert_cmpuint(tc->in_msgs->len, >, i);
    g_assert_cmpuint(g_array_index(tc->in_msgs, TcMsg, i).len, ==, len);
    g_assert_cmphex(g_array_index(tc->in_msgs, TcMsg, i).flags, ==, flags);
}

static void fill(uint8_t *p, size_t len, uint8_t salt)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 7 + salt);
    }
}

/* One packet, one message: straight to the endpoint with its flags. */
static void test_whole_message(void)
{
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);

    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "one", 3), ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM | EOR, 0, "two!", 4), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in_msgs->len, ==, 2);
    expect_msg(tc, 0, 3, EOM);
    expect_msg(tc, 1, 4, EOM | EOR);
    g_assert_cmpmem(tc->in->data, tc->in->len, "onetwo!", 7);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 0);
    fx_fini(&f);
}

/* A message in three packets reaches the endpoint once, whole. */
static void test_split_message(void)
{
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);
    uint8_t msg[9000];

    fill(msg, sizeof(msg), 1);
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, msg, 4000), ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, msg + 4000, 4000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->writes, ==, 0);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 8000);
    /* EOR without EOM means nothing yet */
    g_assert_cmpint(seq_send(&f, GPORT, EOR, 0, msg + 8000, 500), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->writes, ==, 0);
    g_assert_cmpint(seq_send(&f, GPORT, EOM | EOR, 0, msg + 8500, 500), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->writes, ==, 1);
    expect_msg(tc, 0, 9000, EOM | EOR);
    g_assert_cmpmem(tc->in->data, tc->in->len, msg, sizeof(msg));
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 0);
    /* an empty last piece ends a message too */
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, "ab", 2), ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, NULL, 0), ==, VSOCK_TX_OK);
    expect_msg(tc, 1, 2, EOM);
    /* an empty message is not kept */
    g_assert_cmpint(seq_send(&f, GPORT, EOM | EOR, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in_msgs->len, ==, 2);
    fx_expect_none(&f);
    fx_fini(&f);
}

/*
 * A stalled endpoint: messages wait in the ring with their boundaries and
 * flags, are offered whole and one at a time, and the guest's credit
 * moves by whole messages as they are taken.
 */
static void test_buffered_boundaries(void)
{
    static const uint32_t sizes[] = { 1, 3733, 1, 20000, 7 };
    static const uint32_t flags[] = { EOM, EOM | EOR, EOM | EOR, EOM, EOM };
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);
    uint8_t msg[20000];
    uint32_t total = 0, taken;
    VsockHdr h;
    unsigned i;

    tc->write_limit = 0;
    for (i = 0; i < G_N_ELEMENTS(sizes); i++) {
        fill(msg, sizes[i], i);
        /* the big one in two pieces */
        if (sizes[i] > 10000) {
            g_assert_cmpint(seq_send(&f, GPORT, 0, 0, msg, 10000), ==,
                            VSOCK_TX_OK);
            g_assert_cmpint(seq_send(&f, GPORT, flags[i], 0, msg + 10000,
                                     sizes[i] - 10000), ==, VSOCK_TX_OK);
        } else {
            g_assert_cmpint(seq_send(&f, GPORT, flags[i], 0, msg, sizes[i]),
                            ==, VSOCK_TX_OK);
        }
        total += sizes[i];
    }
    g_assert_cmpuint(tc->in_msgs->len, ==, 0);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, total);
    /* only the first message was offered, once, and refused whole */
    g_assert_cmpuint(tc->writes, ==, 1);
    g_assert_cmpuint(tc->partial_writes, ==, 1);
    fx_expect_none(&f);

    /* room for the first two: the third (1 byte) waits for room */
    tc->write_limit = 3734;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in_msgs->len, ==, 2);
    expect_msg(tc, 0, 1, EOM);
    expect_msg(tc, 1, 3733, EOM | EOR);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, total - 3734);
    /* a partial take is no take: 19999 of the 20000 are not enough */
    tc->write_limit = 1 + 19999;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in_msgs->len, ==, 3);
    expect_msg(tc, 2, 1, EOM | EOR);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in_msgs->len, ==, 5);
    expect_msg(tc, 3, 20000, EOM);
    expect_msg(tc, 4, 7, EOM);
    g_assert_cmpuint(tc->in->len, ==, total);
    for (i = 0, taken = 0; i < G_N_ELEMENTS(sizes); i++) {
        fill(msg, sizes[i], i);
        g_assert_cmpmem(tc->in->data + taken, sizes[i], msg, sizes[i]);
        taken += sizes[i];
    }
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 0);
    /* the whole window came back: one update with every byte */
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_seq(&h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, SPORT, GPORT, 0, 0, total);
    fx_expect_none(&f);
    fx_fini(&f);
}

/*
 * A sender stuck in the middle of a message: the messages before it were
 * taken, but less than the threshold, and the rest of its window is the
 * unfinished message, which we hold until its EOM.  It needs an update
 * now, or it waits for ever (seen with a real guest: messages of 1, 3733,
 * 65536 and 65537 bytes, then one of 200000 into a 256 KiB window).
 */
static void test_credit_mid_message(void)
{
    VsockEngineConfig cfg;
    Fixture f;
    TestConn *tc;
    g_autofree uint8_t *msg = g_malloc(BUF_ALLOC);
    VsockHdr h;

    vsock_engine_config_init(&cfg);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    cfg.buf_alloc = BUF_ALLOC;          /* threshold: half of it */
    cfg.max_conns = 8;
    cfg.max_pending_rst = 4;
    cfg.seqpacket = true;
    tc = seq_init(&f, &cfg);
    fill(msg, BUF_ALLOC, 3);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, msg, 10000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, msg, 10000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in_msgs->len, ==, 2);
    /* 20000 taken, less than the threshold: no update yet */
    fx_expect_none(&f);
    /* the rest of the window, no EOM: the guest can send no more */
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, msg, BUF_ALLOC - 20000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==,
                     BUF_ALLOC - 20000);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_seq(&h, VIRTIO_VSOCK_OP_CREDIT_UPDATE, SPORT, GPORT, 0, 0, 20000);
    fx_expect_none(&f);
    /* with that credit the message ends, and is taken whole */
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, msg, 20000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in_msgs->len, ==, 3);
    expect_msg(tc, 2, BUF_ALLOC, EOM);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 0);
    fx_fini(&f);
}

/* Credit stays byte exact: a message up to buf_alloc fits, beyond: RST. */
static void test_credit(void)
{
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);
    g_autofree uint8_t *big = g_malloc0(BUF_ALLOC);
    VsockHdr h;

    tc->write_limit = 0;
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, big, BUF_ALLOC - 1), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, big, 1), ==, VSOCK_TX_OK);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, BUF_ALLOC);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, big, 1), ==,
                    VSOCK_TX_CREDIT_OVERRUN);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_seq(&h, VIRTIO_VSOCK_OP_RST, SPORT, GPORT, 0, 0, 0);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_fini(&f);
}

/*
 * Towards the guest: a message is split by the rx buffer, the 64 KiB
 * packet limit and the guest's credit, EOM/EOR only on its last packet,
 * and no packet carries the end of one message and the start of another.
 */
static void test_rx_split(void)
{
    enum { BIG = 3 * 4096 + VSOCK_MAX_PKT_PAYLOAD + 100 };
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);
    g_autofree uint8_t *msg = g_malloc(BIG);
    g_autofree uint8_t *got = g_malloc(BIG);
    uint8_t pl[VSOCK_MAX_PKT_PAYLOAD];
    uint32_t off;
    VsockHdr h;
    int n;

    fill(msg, BIG, 3);
    tc_push_msg(tc, msg, 10, EOR);
    tc_push_msg(tc, msg, 1, 0);
    tc_push_msg(tc, msg, BIG, EOR);
    tc_push_msg(tc, msg, 4, 0);

    /* 10 bytes, whole, in a big buffer: it ends the packet */
    n = fx_rx(&f, 4096, &h, pl);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 10, EOM | EOR, 0);
    g_assert_cmpmem(pl, n, msg, 10);
    n = fx_rx(&f, 4096, &h, pl);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 1, EOM, 0);
    /* the big one: 4 KiB buffers, then 64 KiB in a bigger one, the rest */
    off = 0;
    for (int i = 0; i < 3; i++) {
        n = fx_rx(&f, VSOCK_HDR_SIZE + 4096, &h, got + off);
        check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 4096, 0, 0);
        off += n;
    }
    n = fx_rx(&f, VSOCK_HDR_SIZE + 2 * VSOCK_MAX_PKT_PAYLOAD, &h, got + off);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, VSOCK_MAX_PKT_PAYLOAD, 0,
              0);
    off += n;
    n = fx_rx(&f, VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD, &h, got + off);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 100, EOM | EOR, 0);
    off += n;
    g_assert_cmpmem(got, off, msg, BIG);
    n = fx_rx(&f, 4096, &h, pl);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 4, EOM, 0);
    g_assert_cmpmem(pl, n, msg, 4);
    /* after a message's end only an empty read() tells there is no more */
    g_assert_cmpint(fx_rx(&f, 4096, &h, pl), ==, -1);
    fx_expect_none(&f);
    fx_fini(&f);
}

/* The guest's credit splits a message; the rest follows its update. */
static void test_rx_credit(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t msg[3000], pl[3000];
    VsockHdr h;

    fx_init(&f);
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, SPORT,
                                         VIRTIO_VSOCK_TYPE_SEQPACKET, fx_accept,
                                         &f));
    /* the guest offers a 1000-byte window */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, 1000, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    tc = g_ptr_array_index(f.tconns, 0);
    fill(msg, sizeof(msg), 9);
    tc_push_msg(tc, msg, 1500, EOR);
    g_assert_cmpint(fx_rx(&f, 4096, &h, pl), ==, 1000);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 1000, 0, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &h, pl), ==, -1);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 1000, 1000,
                                 NULL, 0), ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, pl), ==, 500);
    check_seq(&h, VIRTIO_VSOCK_OP_RW, SPORT, GPORT, 500, EOM | EOR, 0);
    g_assert_cmpmem(pl, 500, msg + 1000, 500);
    g_assert_cmpint(fx_rx(&f, 4096, &h, pl), ==, -1);
    fx_expect_none(&f);
    fx_fini(&f);
}

/* STREAM and SEQPACKET side by side through one listener. */
static void test_mixed(void)
{
    Fixture f;
    TestConn *seq = seq_init(&f, NULL);
    TestConn *st;
    VsockHdr h;

    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT + 1, SPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VIRTIO_VSOCK_OP_RESPONSE, SPORT, GPORT + 1, 0, 0, 0);
    st = g_ptr_array_index(f.tconns, 1);
    g_assert_cmpint(vsock_conn_get_type(st->conn), ==,
                    VIRTIO_VSOCK_TYPE_STREAM);

    /* a stalled stream endpoint keeps bytes, no boundaries */
    st->write_limit = 0;
    seq->write_limit = 0;
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT + 1, SPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, GUEST_BUF, 0, "abc", 3),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "xy", 2), ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT + 1, SPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, GUEST_BUF, 0, "def", 3),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "z", 1), ==, VSOCK_TX_OK);
    st->write_limit = SIZE_MAX;
    seq->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(st->conn);
    vsock_conn_notify_writable(seq->conn);
    g_assert_cmpmem(st->in->data, st->in->len, "abcdef", 6);
    g_assert_cmpuint(st->in_msgs->len, ==, 0);
    g_assert_cmpmem(seq->in->data, seq->in->len, "xyz", 3);
    g_assert_cmpuint(seq->in_msgs->len, ==, 2);
    expect_msg(seq, 0, 2, EOM);
    expect_msg(seq, 1, 1, EOM);

    /* the other type on an open connection: RST */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, GUEST_BUF, 0, "q", 1),
                    ==, VSOCK_TX_BAD_TYPE);
    g_assert_true(seq->closed);
    g_assert_false(st->closed);
    fx_fini(&f);
}

/* SHUTDOWN(SEND) in the middle of a message: it is never delivered. */
static void test_shutdown_partial(void)
{
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);
    VsockHdr h;

    tc->write_limit = 0;
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "done", 4), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, "half", 4), ==, VSOCK_TX_OK);
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                     VIRTIO_VSOCK_TYPE_SEQPACKET, VIRTIO_VSOCK_OP_SHUTDOWN,
                     VIRTIO_VSOCK_SHUTDOWN_SEND, GUEST_BUF, 0, NULL, 0),
        ==, VSOCK_TX_OK);
    /* the complete message comes first */
    g_assert_cmpuint(tc->shutdown_calls, ==, 0);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in_msgs->len, ==, 1);
    expect_msg(tc, 0, 4, EOM);
    g_assert_cmpmem(tc->in->data, tc->in->len, "done", 4);
    g_assert_cmpuint(tc->shutdown_calls, ==, 1);
    g_assert_cmpuint(tc->shutdown_flags, ==, VIRTIO_VSOCK_SHUTDOWN_SEND);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, 0);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    /* the dropped half counts as taken */
    vsock_conn_close(tc->conn);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_seq(&h, VIRTIO_VSOCK_OP_SHUTDOWN, SPORT, GPORT, 0,
              VSOCK_SHUTDOWN_BOTH, 8);
    fx_fini(&f);
}

/* Closed from inside write(): the rest of the queue goes, nothing leaks. */
static void test_close_in_write(void)
{
    Fixture f;
    TestConn *tc = seq_init(&f, NULL);

    tc->write_limit = 0;
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "a", 1), ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, EOM, 0, "b", 1), ==, VSOCK_TX_OK);
    g_assert_cmpint(seq_send(&f, GPORT, 0, 0, "c", 1), ==, VSOCK_TX_OK);
    tc->write_limit = SIZE_MAX;
    tc->close_in_write = true;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in_msgs->len, ==, 1);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_fini(&f);
}

/* Not offered (the driver did not take the feature): RST, no connect. */
static void test_off(void)
{
    Fixture f;
    VsockEngineConfig cfg;

    vsock_engine_config_init(&cfg);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    g_assert_false(cfg.seqpacket);
    fx_init_cfg(&f, &cfg);
    g_assert_false(vsock_engine_get_seqpacket(f.e));
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, SPORT,
                                         VIRTIO_VSOCK_TYPE_STREAM |
                                         VIRTIO_VSOCK_TYPE_SEQPACKET, fx_accept,
                                         &f));
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_BAD_TYPE);
    fx_expect_orphan_rst(&f, PARENT, SPORT, GPORT, VIRTIO_VSOCK_TYPE_SEQPACKET);
    g_assert_null(vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 99,
                                       VIRTIO_VSOCK_TYPE_SEQPACKET, &tc_ops,
                                       NULL));
    g_assert_cmpuint(f.tconns->len, ==, 0);
    /* the driver takes it after a reset */
    vsock_engine_set_seqpacket(f.e, true);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, SPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpuint(f.tconns->len, ==, 1);
    fx_fini(&f);
}

/* A listener that takes no type is no listener. */
static void test_listen_types(void)
{
    Fixture f;

    fx_init(&f);
    g_assert_null(vsock_engine_listen(f.e, PARENT, SPORT, 0, fx_accept,
                                      &f));
    g_assert_null(vsock_engine_listen(f.e, PARENT, SPORT, 4, fx_accept,
                                      &f));
    fx_fini(&f);
}

void vsock_test_register_seqpacket(void)
{
    g_test_add_func("/vsock/seqpacket/whole-message", test_whole_message);
    g_test_add_func("/vsock/seqpacket/split-message", test_split_message);
    g_test_add_func("/vsock/seqpacket/buffered-boundaries",
                    test_buffered_boundaries);
    g_test_add_func("/vsock/seqpacket/credit", test_credit);
    g_test_add_func("/vsock/seqpacket/credit-mid-message",
                    test_credit_mid_message);
    g_test_add_func("/vsock/seqpacket/rx-split", test_rx_split);
    g_test_add_func("/vsock/seqpacket/rx-credit", test_rx_credit);
    g_test_add_func("/vsock/seqpacket/mixed-types", test_mixed);
    g_test_add_func("/vsock/seqpacket/shutdown-partial",
                    test_shutdown_partial);
    g_test_add_func("/vsock/seqpacket/close-in-write", test_close_in_write);
    g_test_add_func("/vsock/seqpacket/off", test_off);
    g_test_add_func("/vsock/seqpacket/listen-types", test_listen_types);
}
