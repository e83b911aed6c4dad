/*
 * A scriptable endpoint and engine fixture for the engine's tests
 *
 * The unit tests and the fuzzer both drive the engine through this: a
 * Fixture owns an engine on virtual time with a listener on
 * (PARENT, LPORT), and every connection it accepts (or that a test opens
 * with vsock_engine_connect() and tc_ops) gets a TestConn, an endpoint
 * whose behaviour the test scripts: how much write() takes, what read()
 * returns, and which engine call it makes from inside a callback.
 *
 * A TestConn either records the guest's bytes and replays bytes the test
 * pushed (the unit tests), or, with @pattern set, checks the guest's bytes
 * against fx_pattern() and produces fx_pattern() bytes for the guest
 * (the fuzzer, whose streams are unbounded).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_UNIT_VSOCK_USER_FIXTURE_H
#define TESTS_UNIT_VSOCK_USER_FIXTURE_H

#include "hw/virtio/vsock-user/vsock-user-endpoint.h"

#define GUEST 16
#define PARENT 3
#define LPORT 5000
#define GPORT 1234
#define BUF_ALLOC (64 * 1024)
#define GUEST_BUF (256 * 1024)
#define NS (1000000000LL)

typedef struct Fixture Fixture;

/* A SEQPACKET message as an endpoint saw or sent it. */
typedef struct TcMsg {
    uint32_t len;
    uint32_t flags;       /* VIRTIO_VSOCK_SEQ_EOM, | VIRTIO_VSOCK_SEQ_EOR */
} TcMsg;

typedef struct TestConn {
    Fixture *f;
    VsockConn *conn;      /* NULL once closed() */
    GByteArray *in;       /* bytes the guest sent us */
    GByteArray *out;      /* bytes to send to the guest */
    size_t out_pos;       /* bytes read() handed out */
    size_t write_limit;   /* bytes write() may still take; SIZE_MAX: all */
    uint64_t in_total;    /* bytes write() took */
    unsigned writes;
    unsigned reads;
    unsigned partial_writes; /* write() calls that took less than offered */
    uint32_t shutdown_flags;
    unsigned shutdown_calls;
    size_t in_at_shutdown;
    bool connected;
    bool closed;
    VsockCloseReason reason;
    bool close_in_write;
    bool reset_in_read;
    bool close_in_read;
    VsockListener *listener; /* that accepted it */

    /* pattern mode: check and produce fx_pattern() bytes, keep none */
    bool pattern;
    uint32_t in_salt;     /* pattern of guest -> endpoint bytes */
    uint32_t out_salt;    /* pattern of endpoint -> guest bytes */
    uint64_t out_avail;   /* pattern bytes read() may still produce */

    /* SEQPACKET: the messages write() took and read() hands out */
    GArray *in_msgs;      /* TcMsg per message taken */
    GArray *out_msgs;     /* TcMsg per message tc_push_msg() queued */
    unsigned out_msg;     /* the message read() is in */
    size_t out_msg_pos;   /* bytes of it handed out */

    bool pending;         /* accept deferred, no decision yet */
    int64_t deadline;     /* accept timeout of a pending one */
    bool gone;            /* the script closed or reset it */
} TestConn;

struct Fixture {
    VsockEngine *e;
    int64_t now;
    unsigned wakeups;
    bool refuse;
    bool defer;           /* fx_accept answers VSOCK_ACCEPT_DEFER */
    bool accept_in_cb;    /* ... after calling vsock_conn_accept() */
    bool no_ops;          /* fx_accept answers NOW without setting ops */
    bool pattern;         /* new TestConns are in pattern mode */
    size_t accept_write_limit;
    GPtrArray *tconns;    /* every TestConn made, closed ones included */
    unsigned state_changes;
    unsigned pkts_in;
    unsigned pkts_out;
    VsockEngineConfig cfg;
    /* called first in closed(), for the fuzzer's checks */
    void (*closed_hook)(TestConn *tc, VsockConn *conn,
                        VsockCloseReason reason);
};

extern const VsockConnOps tc_ops;

/* The byte at @pos of the stream with @salt, in pattern mode. */
static inline uint8_t fx_pattern(uint64_t pos, uint32_t salt)
{
    return (uint8_t)(pos * 131 + salt * 7 + (pos >> 8));
}

TestConn *tc_new(Fixture *f);
/* Queue @data for the guest and tell the engine. */
void tc_push(TestConn *tc, const void *data, size_t len);
/* SEQPACKET: queue one message (@flags: 0 or VIRTIO_VSOCK_SEQ_EOR). */
void tc_push_msg(TestConn *tc, const void *data, size_t len,
                 uint32_t flags);
/* Pattern mode, SEQPACKET: the length of the messages read() makes. */
static inline uint32_t fx_pattern_msg_len(uint32_t salt)
{
    return 1 + salt % 5000;
}
/* The fixture's accept callback (@opaque is the Fixture). */
VsockAcceptResult fx_accept(VsockListener *l, VsockConn *conn,
                            void *opaque);

/*
 * Start an engine with @cfg (NULL: small test defaults) and a listener on
 * (PARENT, LPORT) that calls @accept (NULL: fx_accept).
 */
void fx_init_full(Fixture *f, const VsockEngineConfig *cfg,
                  VsockAcceptFn accept);
void fx_init_cfg(Fixture *f, const VsockEngineConfig *cfg);
void fx_init(Fixture *f);
void fx_fini(Fixture *f);
/* TestConns neither closed by the engine nor gone by the script. */
unsigned fx_live_conns(Fixture *f);

/* Build and feed one guest packet (contiguous). */
VsockTxResult fx_send_full(Fixture *f, uint64_t src_cid, uint64_t dst_cid,
                           uint32_t src_port, uint32_t dst_port,
                           uint16_t type, uint16_t op, uint32_t flags,
                           uint32_t buf_alloc, uint32_t fwd_cnt,
                           const void *payload, uint32_t len);
VsockTxResult fx_send(Fixture *f, uint16_t op, uint32_t flags,
                      uint32_t fwd_cnt, const void *payload, uint32_t len);
/* A guest packet from @gport to @lport. */
VsockTxResult fx_send_to(Fixture *f, uint32_t gport, uint32_t lport,
                         uint16_t op, const void *payload, uint32_t len);
/* Offer one rx buffer of @size bytes; returns the payload length or -1. */
int fx_rx(Fixture *f, size_t size, VsockHdr *h, uint8_t *payload);
void check_hdr(const VsockHdr *h, uint16_t op, uint32_t src_port,
               uint32_t dst_port, uint32_t len, uint32_t flags,
               uint32_t fwd_cnt);
/* The same for a packet of socket type @type. */
void check_hdr_type(const VsockHdr *h, uint16_t type, uint16_t op,
                    uint32_t src_port, uint32_t dst_port, uint32_t len,
                    uint32_t flags, uint32_t fwd_cnt);
/* Expect exactly one packet of the default connection. */
void fx_expect(Fixture *f, uint16_t op, uint32_t len, uint32_t flags,
               uint32_t fwd_cnt);
/* Expect exactly one packet of the connection (@lport, @gport). */
void fx_expect_on(Fixture *f, uint32_t lport, uint32_t gport, uint16_t op,
                  uint32_t len, uint32_t flags, uint32_t fwd_cnt,
                  uint8_t *payload);
/* An RST for a packet without connection: buf_alloc and fwd_cnt 0. */
void fx_expect_orphan_rst(Fixture *f, uint64_t src_cid, uint32_t src_port,
                          uint32_t dst_port, uint16_t type);
void fx_expect_none(Fixture *f);
/* Guest connects to LPORT; returns the endpoint's connection. */
TestConn *fx_connect(Fixture *f);
/* The guest connects to LPORT from GPORT; the endpoint defers. */
TestConn *fx_connect_deferred(Fixture *f);
void fill_pattern(uint8_t *p, size_t len, size_t start);

/* The unit tests, one file each, registered by test-vsock-user-engine.c */
void vsock_test_register_packet(void);
void vsock_test_register_conn(void);
void vsock_test_register_credit(void);
void vsock_test_register_rx(void);
void vsock_test_register_shutdown(void);
void vsock_test_register_tx(void);
void vsock_test_register_accept(void);
void vsock_test_register_seqpacket(void);

/*
 * The engine's fuzz target (tests/qtest/fuzz/vsock-user-engine-fuzz.c):
 * libFuzzer calls it in the fuzzing build, test-vsock-user-engine-fuzz
 * on fixed inputs.  It aborts when an invariant fails.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
