/*
 * libFuzzer target for the virtio-vsock-user protocol engine
 *
 * The input is a script of guest packets (any header values, any split
 * into buffers), rx buffer offers of random sizes and layouts, endpoint
 * events (data, drain, close, shutdown, reset, host connect, accepting
 * or refusing deferred connections, the accept policy, the fallback
 * listener coming and going), time advances and device resets.  A model
 * of the guest checks that the engine never sends more RW bytes than the
 * guest's credit and that the bytes arrive in order; the endpoints check
 * that the guest's bytes reach them in order; guest ports 1002 and 1003
 * speak SEQPACKET (unless the input turns the feature off at a reset),
 * where messages reach the endpoint whole and no packet to the guest
 * crosses the end of a message or lacks EOM at one; memory held stays within
 * conns * buf_alloc.  Deferred connections stay ACCEPTING until the
 * endpoint decides, never outlive the accept timeout, never send the
 * guest anything, and are told why they ended.
 *
 * The endpoints are the unit tests' scriptable TestConn (vsock-user-fixture.c)
 * in pattern mode.
 *
 * Build: CC=clang meson setup build/fuzz -Dfuzzer=true && ninja -C
 * build/fuzz; run: build/fuzz/vsock-user-engine-fuzz -max_total_time=60
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../../unit/vsock-user-fixture.h"

#define MAX_CONNS 8
#define FUZZ_BUF_ALLOC 8192
#define MAX_PAYLOAD 70000
#define ACCEPT_TIMEOUT_NS (500 * 1000000LL)
/* A port with a listener of its own, served by echo_once below */
#define ECHO_PORT 9000

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

/*
 * An endpoint that is not the fixture's script: it keeps the first byte
 * the guest sends, hands it back and closes from inside read(), as the
 * Nitro heartbeat does (guest bytes after the first are discarded).
 */
typedef struct EchoConn {
    bool have_byte;
    uint8_t byte;
} EchoConn;

static size_t echo_write(VsockConn *conn, void *opaque,
                         const struct iovec *iov, unsigned iov_cnt,
                         uint32_t flags)
{
    EchoConn *ec = opaque;
    size_t len = iov_size(iov, iov_cnt);

    if (!ec->have_byte) {
        iov_to_buf(iov, iov_cnt, 0, &ec->byte, 1);
        ec->have_byte = true;
        vsock_conn_notify_readable(conn);
    }
    return len;
}

static size_t echo_read(VsockConn *conn, void *opaque,
                        const struct iovec *iov, unsigned iov_cnt,
                        uint32_t *flags)
{
    EchoConn *ec = opaque;

    if (!ec->have_byte || !iov_from_buf(iov, iov_cnt, 0, &ec->byte, 1)) {
        return 0;
    }
    vsock_conn_close(conn);
    g_free(ec);
    return 1;
}

static void echo_shutdown(VsockConn *conn, void *opaque, uint32_t flags)
{
    EchoConn *ec = opaque;

    if ((flags & VIRTIO_VSOCK_SHUTDOWN_SEND) && !ec->have_byte) {
        vsock_conn_close(conn);
        g_free(opaque);
    }
}

static void echo_closed(VsockConn *conn, void *opaque, VsockCloseReason r)
{
    g_free(opaque);
}

static const VsockConnOps echo_ops = {
    .write = echo_write,
    .read = echo_read,
    .shutdown = echo_shutdown,
    .closed = echo_closed,
};

static VsockAcceptResult echo_accept(VsockListener *l, VsockConn *conn,
                                     void *opaque)
{
    vsock_conn_set_ops(conn, &echo_ops, g_new0(EchoConn, 1));
    return VSOCK_ACCEPT_NOW;
}

typedef struct Input {
    const uint8_t *p;
    size_t left;
} Input;

static uint32_t get(Input *in, unsigned bytes)
{
    uint32_t v = 0;

    while (bytes--) {
        v <<= 8;
        if (in->left) {
            v |= *in->p++;
            in->left--;
        }
    }
    return v;
}

/* The guest's view of one connection (by local port, guest port). */
typedef struct Model {
    bool valid;          /* counters are trustworthy */
    uint64_t recv;       /* RW bytes received from the engine */
    uint64_t fwd;        /* what the guest told the engine it consumed */
    uint32_t buf_alloc;  /* what the guest told the engine */
    uint64_t sent;       /* RW bytes the engine accepted from the guest */
} Model;

typedef enum AcceptMode {
    MODE_NOW,
    MODE_REFUSE,
    MODE_DEFER,
    MODE_DEFER_ACCEPTED, /* vsock_conn_accept() inside, then DEFER */
    MODE_NO_OPS,         /* NOW without vsock_conn_set_ops() */
    MODE__MAX,
} AcceptMode;

typedef struct Fuzz {
    Fixture fx;          /* the engine and the endpoints' TestConns */
    GHashTable *models;  /* (local port << 32 | guest port) -> Model */
    AcceptMode mode;
    VsockListener *fallback;
    uint32_t last_host_port;
    uint8_t *buf;
} Fuzz;

static Fuzz *fz;

/* What the inputs reached; printed at exit if VSOCK_FUZZ_STATS is set. */
static struct {
    uint64_t rw_in, rw_in_bytes, rw_out, rw_out_bytes, partial_writes;
    uint64_t deferred, accepted, refused_later;
    uint64_t pending_closed[VSOCK_CLOSE_RESET + 1];
    uint64_t results[VSOCK_TX__MAX];
} st;

static void print_stats(void)
{
    if (getenv("VSOCK_FUZZ_STATS")) {
        fprintf(stderr, "rw_in %llu (%llu B) rw_out %llu (%llu B) "
                "partial writes %llu\n",
                (unsigned long long)st.rw_in,
                (unsigned long long)st.rw_in_bytes,
                (unsigned long long)st.rw_out,
                (unsigned long long)st.rw_out_bytes,
                (unsigned long long)st.partial_writes);
        fprintf(stderr, "deferred %llu, then accepted %llu, reset %llu\n",
                (unsigned long long)st.deferred,
                (unsigned long long)st.accepted,
                (unsigned long long)st.refused_later);
        for (int i = 0; i <= VSOCK_CLOSE_RESET; i++) {
            fprintf(stderr, "  pending, closed: %-27s %llu\n",
                    vsock_close_reason_str(i),
                    (unsigned long long)st.pending_closed[i]);
        }
        for (int i = 0; i < VSOCK_TX__MAX; i++) {
            fprintf(stderr, "  %-45s %llu\n", vsock_tx_result_str(i),
                    (unsigned long long)st.results[i]);
        }
    }
}

static Model *model(uint32_t local_port, uint32_t guest_port)
{
    uint64_t key = (uint64_t)local_port << 32 | guest_port;
    Model *m = g_hash_table_lookup(fz->models, &key);

    if (!m) {
        uint64_t *k = g_new(uint64_t, 1);

        *k = key;
        m = g_new0(Model, 1);
        g_hash_table_insert(fz->models, k, m);
    }
    return m;
}

static void model_reset(Model *m, uint32_t buf_alloc, uint32_t fwd)
{
    memset(m, 0, sizeof(*m));
    m->valid = fwd == 0;
    m->buf_alloc = buf_alloc;
}

/* The script is done with @tc (it closes or resets it next). */
static void tc_forget(TestConn *tc)
{
    tc->gone = true;
}

static void fz_closed(TestConn *tc, VsockConn *conn, VsockCloseReason r)
{
    CHECK(tc->conn == conn);
    CHECK(!tc->gone);
    if (tc->pending) {
        CHECK(r == VSOCK_CLOSE_PEER_RST || r == VSOCK_CLOSE_PROTOCOL ||
              r == VSOCK_CLOSE_TIMEOUT || r == VSOCK_CLOSE_RESET);
        CHECK(r != VSOCK_CLOSE_TIMEOUT || fz->fx.now >= tc->deadline);
        st.pending_closed[r]++;
    }
}

static VsockAcceptResult fz_accept(VsockListener *l, VsockConn *conn,
                                   void *opaque)
{
    Fixture *f = &fz->fx;
    VsockAcceptResult r;
    guint n = f->tconns->len;

    /* a port's own listener has precedence over the fallback */
    CHECK(vsock_conn_get_local_port(conn) != ECHO_PORT);
    CHECK(l == fz->fallback ||
          vsock_conn_get_local_port(conn) == LPORT);
    CHECK(vsock_conn_get_state(conn) == VSOCK_CONN_ACCEPTING);
    f->refuse = fz->mode == MODE_REFUSE;
    f->no_ops = fz->mode == MODE_NO_OPS;
    f->defer = fz->mode == MODE_DEFER || fz->mode == MODE_DEFER_ACCEPTED;
    f->accept_in_cb = fz->mode == MODE_DEFER_ACCEPTED;
    r = fx_accept(l, conn, f);
    if (f->tconns->len > n &&
        ((TestConn *)g_ptr_array_index(f->tconns, n))->pending) {
        st.deferred++;
    }
    return r;
}

/* The live TestConn of the connection (@local_port, @guest_port), if any. */
static TestConn *tc_find(uint32_t local_port, uint32_t guest_port)
{
    for (guint i = 0; i < fz->fx.tconns->len; i++) {
        TestConn *tc = g_ptr_array_index(fz->fx.tconns, i);

        if (!tc->closed && !tc->gone &&
            vsock_conn_get_local_port(tc->conn) == local_port &&
            vsock_conn_get_peer_port(tc->conn) == guest_port) {
            return tc;
        }
    }
    return NULL;
}

/* A random live TestConn, pending ones only if @pending. */
static TestConn *tc_pick(Input *in, bool pending)
{
    GPtrArray *tconns = fz->fx.tconns;
    guint n = 0, k;

    for (guint i = 0; i < tconns->len; i++) {
        TestConn *tc = g_ptr_array_index(tconns, i);

        n += !tc->closed && !tc->gone && (!pending || tc->pending);
    }
    if (!n) {
        return NULL;
    }
    k = get(in, 1) % n;
    for (guint i = 0; i < tconns->len; i++) {
        TestConn *tc = g_ptr_array_index(tconns, i);

        if (!tc->closed && !tc->gone && (!pending || tc->pending) && !k--) {
            return tc;
        }
    }
    return NULL;
}

static void check_bounds(void)
{
    VsockEngine *e = fz->fx.e;
    unsigned conns = vsock_engine_conn_count(e);

    CHECK(conns <= MAX_CONNS);
    CHECK(fx_live_conns(&fz->fx) <= conns);
    CHECK(vsock_engine_buffered_bytes(e) <=
          (size_t)conns * FUZZ_BUF_ALLOC);
    for (guint i = 0; i < fz->fx.tconns->len; i++) {
        TestConn *tc = g_ptr_array_index(fz->fx.tconns, i);
        VsockConnState s;

        if (tc->closed || tc->gone) {
            continue;
        }
        s = vsock_conn_get_state(tc->conn);
        CHECK(s != VSOCK_CONN_CLOSED);
        CHECK(tc->pending == (s == VSOCK_CONN_ACCEPTING));
        if (tc->pending) {
            /* the guest sent nothing acceptable yet */
            CHECK(vsock_conn_get_buffered(tc->conn) == 0);
            CHECK(vsock_engine_next_deadline(e) <= tc->deadline);
        }
    }
}

/* Guest ports 1000..1003: the last two are SEQPACKET. */
static uint16_t port_type(uint32_t gport)
{
    return gport >= 1002 ? VIRTIO_VSOCK_TYPE_SEQPACKET :
           VIRTIO_VSOCK_TYPE_STREAM;
}

/* Split @len bytes at @buf into up to 4 iovecs as the input says. */
static unsigned split(Input *in, uint8_t *buf, size_t len,
                      struct iovec *iov)
{
    unsigned n = 1 + get(in, 1) % 4;
    size_t off = 0;
    unsigned i;

    for (i = 0; i < n - 1; i++) {
        size_t piece = len ? get(in, 2) % (len - off + 1) : 0;

        iov[i].iov_base = buf + off;
        iov[i].iov_len = piece;
        off += piece;
    }
    iov[i].iov_base = buf + off;
    iov[i].iov_len = len - off;
    return n;
}

static void guest_send(Input *in)
{
    static const uint32_t local_ports[] = {
        LPORT, ECHO_PORT, 77, 0,
    };
    uint32_t sel = get(in, 1);
    uint32_t gport = 1000 + sel % 4;
    uint32_t lport = local_ports[(sel >> 2) % 4];
    uint32_t op = get(in, 1);
    uint32_t misc = get(in, 1);
    uint32_t fault = misc >= 0xe0 ? misc & 7 : 0; /* 1 in 8 is broken */
    uint32_t len = 0;
    VsockHdr h = { 0 };
    Model *m;
    struct iovec iov[4];
    unsigned cnt;
    size_t total;
    VsockTxResult r;

    if (!lport) {
        lport = fz->last_host_port;
    }
    m = model(lport, gport);
    h.src_cid = fault == 1 ? GUEST + 1 : GUEST;
    h.dst_cid = fault == 2 ? VSOCK_CID_HOST : PARENT;
    h.src_port = gport;
    h.dst_port = lport;
    h.type = fault == 3 ? op & 0xf : port_type(gport);
    h.op = op < 0x80 ? VIRTIO_VSOCK_OP_RW : op % 9;
    h.flags = get(in, 1) & 3;
    h.buf_alloc = 1024 * (1 + get(in, 1) % 64);
    if (get(in, 1) == 0xff) {
        h.fwd_cnt = get(in, 4); /* garbage */
    } else {
        /* the guest consumed some of what it received */
        h.fwd_cnt = (uint32_t)(m->fwd + get(in, 2) % (m->recv - m->fwd + 1));
    }
    if (h.op == VIRTIO_VSOCK_OP_RW) {
        len = get(in, 2) % (misc & 1 ? MAX_PAYLOAD : 3000);
    }
    h.len = len;
    total = VSOCK_HDR_SIZE + len;
    vsock_hdr_encode(&h, fz->buf);
    for (uint32_t i = 0; i < len; i++) {
        fz->buf[VSOCK_HDR_SIZE + i] = fx_pattern(m->sent + i, gport);
    }
    if (fault == 4) {
        h.len = len + 1; /* lie about the length */
        vsock_hdr_encode(&h, fz->buf);
    }
    cnt = split(in, fz->buf, total, iov);
    if (fault == 5 && total) {
        total -= get(in, 1) % (total + 1); /* short chain */
    }
    r = vsock_engine_handle_tx(fz->fx.e, iov, cnt, total);
    st.results[r]++;
    CHECK((unsigned)r < VSOCK_TX__MAX);
    CHECK(strcmp(vsock_tx_result_str(r), "?") != 0);
    if (r != VSOCK_TX_OK) {
        if (h.op == VIRTIO_VSOCK_OP_REQUEST && r != VSOCK_TX_SHORT_HDR &&
            r != VSOCK_TX_BAD_LEN && r != VSOCK_TX_BAD_SRC_CID) {
            m->valid = false;
        }
        return;
    }
    if (h.src_cid != GUEST || h.op == VIRTIO_VSOCK_OP_RST) {
        return;
    }
    if (h.op == VIRTIO_VSOCK_OP_REQUEST) {
        model_reset(m, h.buf_alloc, h.fwd_cnt);
        return;
    }
    if (h.fwd_cnt != (uint32_t)m->fwd &&
        ((uint32_t)(h.fwd_cnt - m->fwd) > (uint32_t)(m->recv - m->fwd))) {
        m->valid = false; /* garbage fwd_cnt: stop checking */
    } else {
        m->fwd += (uint32_t)(h.fwd_cnt - (uint32_t)m->fwd);
    }
    m->buf_alloc = h.buf_alloc;
    if (h.op == VIRTIO_VSOCK_OP_RW) {
        m->sent += len;
        st.rw_in++;
        st.rw_in_bytes += len;
    }
}

static void guest_receive(Input *in)
{
    size_t size = get(in, 2) % (VSOCK_HDR_SIZE + MAX_PAYLOAD);
    struct iovec iov[4];
    unsigned cnt;
    size_t len = 0;
    VsockHdr h;
    Model *m;
    TestConn *tc;

    if (!in->left || (get(in, 1) & 1)) {
        size = VSOCK_HDR_SIZE + 4096;
    }
    memset(fz->buf, 0, size);
    cnt = split(in, fz->buf, size, iov);
    if (!vsock_engine_fill_rx(fz->fx.e, iov, cnt, &len)) {
        CHECK(len == 0);
        return;
    }
    CHECK(len >= VSOCK_HDR_SIZE && len <= size);
    vsock_hdr_decode(&h, fz->buf);
    CHECK(h.len == len - VSOCK_HDR_SIZE);
    CHECK(h.dst_cid == GUEST);
    CHECK(h.op != VIRTIO_VSOCK_OP_RW || h.len > 0);
    CHECK(h.len <= VSOCK_MAX_PKT_PAYLOAD);
    tc = tc_find(h.src_port, h.dst_port);
    if (tc && tc->pending) {
        /* only an RST answering an earlier packet on the same ports */
        CHECK(h.op == VIRTIO_VSOCK_OP_RST && h.buf_alloc == 0);
    }
    m = model(h.src_port, h.dst_port);
    switch (h.op) {
    case VIRTIO_VSOCK_OP_REQUEST:
        model_reset(m, 0, 0);
        break;
    case VIRTIO_VSOCK_OP_RST:
        m->valid = false;
        break;
    case VIRTIO_VSOCK_OP_RW:
        CHECK(h.len <= len);
        if (m->valid) {
            /* never beyond the guest's credit */
            CHECK(m->recv - m->fwd + h.len <= m->buf_alloc);
        }
        if (h.type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
            uint64_t msg = fx_pattern_msg_len(h.src_port);

            CHECK(!(h.flags & ~(VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR)));
            /* within one message; EOM exactly at its end */
            CHECK(!m->valid || m->recv / msg == (m->recv + h.len - 1) / msg);
            CHECK(!m->valid || !!(h.flags & VIRTIO_VSOCK_SEQ_EOM) ==
                  ((m->recv + h.len) % msg == 0));
        } else {
            CHECK(h.flags == 0);
        }
        if (m->valid && h.src_port != ECHO_PORT) {
            for (uint32_t i = 0; i < h.len; i++) {
                CHECK(fz->buf[VSOCK_HDR_SIZE + i] ==
                      fx_pattern(m->recv + i, h.src_port));
            }
        }
        m->recv += h.len;
        st.rw_out++;
        st.rw_out_bytes += h.len;
        break;
    default:
        CHECK(h.len == 0);
        break;
    }
}

static void policy_event(Input *in)
{
    uint32_t what = get(in, 1) % (MODE__MAX + 1);

    if (what < MODE__MAX) {
        fz->mode = what;
    } else if (fz->fallback) {
        vsock_listener_free(fz->fallback);
        fz->fallback = NULL;
    } else {
        fz->fallback = vsock_engine_listen(fz->fx.e, PARENT, VSOCK_PORT_ANY,
                                           VIRTIO_VSOCK_TYPE_STREAM |
                                               VIRTIO_VSOCK_TYPE_SEQPACKET,
                                           fz_accept, NULL);
        CHECK(fz->fallback);
        /* one fallback per CID */
        CHECK(!vsock_engine_listen(fz->fx.e, PARENT, VSOCK_PORT_ANY,
                                   VIRTIO_VSOCK_TYPE_SEQPACKET, fz_accept,
                                   NULL));
    }
}

static void endpoint_event(Input *in)
{
    uint32_t what = get(in, 1);
    TestConn *tc;
    VsockConn *conn;

    switch (what % 10) {
    case 6:
        policy_event(in);
        return;
    case 7: {
        uint32_t gport = 1000 + get(in, 1) % 4;

        conn = vsock_engine_connect(fz->fx.e, PARENT, VSOCK_PORT_ANY, gport,
                                    port_type(gport), &tc_ops, NULL);
        CHECK(conn || port_type(gport) == VIRTIO_VSOCK_TYPE_STREAM ||
              !vsock_engine_get_seqpacket(fz->fx.e) ||
              vsock_engine_conn_count(fz->fx.e) >= MAX_CONNS);
        if (conn) {
            tc = tc_new(&fz->fx);
            tc->conn = conn;
            tc->in_salt = gport;
            tc->out_salt = vsock_conn_get_local_port(conn);
            vsock_conn_set_ops(conn, &tc_ops, tc);
            fz->last_host_port = vsock_conn_get_local_port(conn);
        }
        return;
    }
    case 8:
    case 9:
        /* the endpoint decides about a deferred connection */
        tc = tc_pick(in, true);
        if (!tc) {
            return;
        }
        conn = tc->conn;
        tc->pending = false;
        if (what % 10 == 8) {
            st.accepted++;
            vsock_conn_accept(conn);
            CHECK(vsock_conn_get_state(conn) == VSOCK_CONN_ESTABLISHED);
            vsock_conn_accept(conn); /* twice: nothing */
        } else {
            st.refused_later++;
            tc_forget(tc);
            vsock_conn_reset(conn);
        }
        return;
    }
    tc = tc_pick(in, false);
    if (!tc) {
        return;
    }
    conn = tc->conn;
    switch (what % 10) {
    case 0:
    case 1:
        tc->out_avail += get(in, 2);
        vsock_conn_notify_readable(conn);
        break;
    case 2:
        tc->write_limit = get(in, 2) % (what >> 7 ? 65536 : 4096);
        vsock_conn_notify_writable(conn);
        break;
    case 3:
        vsock_conn_shutdown(conn, get(in, 1) & 3);
        break;
    case 4:
        tc_forget(tc);
        vsock_conn_close(conn);
        break;
    default:
        tc_forget(tc);
        vsock_conn_reset(conn);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { data, size };
    VsockEngineConfig cfg;
    VsockListener *echo;
    Fuzz f = { 0 };
    Fixture *fx = &f.fx;
    unsigned steps = 0;

    static bool once;

    if (!once) {
        once = true;
        atexit(print_stats);
    }
    fz = &f;
    f.buf = g_malloc(VSOCK_HDR_SIZE + MAX_PAYLOAD + 1);
    f.models = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                     g_free);
    f.last_host_port = 49152;
    vsock_engine_config_init(&cfg);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    cfg.max_conns = MAX_CONNS;
    cfg.buf_alloc = FUZZ_BUF_ALLOC;
    cfg.credit_threshold = FUZZ_BUF_ALLOC / 4;
    cfg.max_pending_rst = 4;
    cfg.accept_timeout_ns = ACCEPT_TIMEOUT_NS;
    cfg.seqpacket = true;
    fx_init_full(fx, &cfg, fz_accept);
    fx->now = 0;
    fx->pattern = true;
    fx->closed_hook = fz_closed;
    f.fallback = vsock_engine_listen(fx->e, PARENT, VSOCK_PORT_ANY,
                                     VIRTIO_VSOCK_TYPE_STREAM |
                                         VIRTIO_VSOCK_TYPE_SEQPACKET,
                                     fz_accept, NULL);
    CHECK(f.fallback);
    echo = vsock_engine_listen(fx->e, PARENT, ECHO_PORT,
                               VIRTIO_VSOCK_TYPE_STREAM, echo_accept, NULL);
    CHECK(echo);

    while (in.left && steps++ < 4096) {
        uint32_t cmd = get(&in, 1);

        switch (cmd % 8) {
        case 0:
        case 1:
        case 2:
            if (vsock_engine_tx_ready(fx->e) || (cmd & 0x80)) {
                guest_send(&in);
            }
            break;
        case 3:
        case 4:
            guest_receive(&in);
            break;
        case 5:
            endpoint_event(&in);
            break;
        case 6:
            fx->now += (int64_t)get(&in, 2) * 1000000;
            vsock_engine_run_timers(fx->e);
            CHECK(vsock_engine_next_deadline(fx->e) > fx->now);
            for (guint i = 0; i < fx->tconns->len; i++) {
                TestConn *tc = g_ptr_array_index(fx->tconns, i);

                CHECK(tc->closed || tc->gone || !tc->pending ||
                      tc->deadline > fx->now);
            }
            break;
        default:
            if (cmd == 0xff) {
                vsock_engine_reset(fx->e);
                /* the driver may renegotiate the feature */
                vsock_engine_set_seqpacket(fx->e, !(get(&in, 1) & 0x10));
                CHECK(vsock_engine_conn_count(fx->e) == 0);
                CHECK(fx_live_conns(fx) == 0);
                g_hash_table_remove_all(f.models);
            } else {
                (void)vsock_engine_rx_pending(fx->e);
            }
            break;
        }
        check_bounds();
    }
    /* drain: the rx queue must empty out in bounded steps */
    for (steps = 0; vsock_engine_rx_pending(fx->e); steps++) {
        Input none = { NULL, 0 };

        CHECK(steps < 100000);
        guest_receive(&none);
        if (steps > 20000) {
            /* endpoints with endless data: let them stop */
            for (guint i = 0; i < fx->tconns->len; i++) {
                ((TestConn *)g_ptr_array_index(fx->tconns, i))->out_avail = 0;
            }
        }
    }
    vsock_listener_free(echo);
    vsock_listener_free(f.fallback);
    for (guint i = 0; i < fx->tconns->len; i++) {
        st.partial_writes +=
            ((TestConn *)g_ptr_array_index(fx->tconns, i))->partial_writes;
    }
    vsock_engine_free(fx->e);
    fx->e = NULL;
    CHECK(fx_live_conns(fx) == 0); /* every endpoint was told */
    fx_fini(fx);
    g_hash_table_destroy(f.models);
    g_free(f.buf);
    return 0;
}
