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
 * that the guest's bytes reach them in order; memory held stays within
 * conns * buf_alloc.  Deferred connections stay ACCEPTING until the
 * endpoint decides, never outlive the accept timeout, never send the
 * guest anything, and are told why they ended.
 *
 * Build: CC=clang meson setup build/fuzz -Dfuzzer=true && ninja -C
 * build/fuzz; run: build/fuzz/vsock-user-engine-fuzz -max_total_time=60
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hw/virtio/vsock-user-endpoint.h"
#include "hw/virtio/vsock-user-heartbeat.h"

#define GUEST 16
#define PARENT 3
#define LPORT 5000
#define MAX_CONNS 8
#define BUF_ALLOC 8192
#define MAX_PAYLOAD 70000
#define ACCEPT_TIMEOUT_NS (500 * 1000000LL)

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, \
                    __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

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

static uint8_t pattern(uint64_t pos, uint32_t salt)
{
    return (uint8_t)(pos * 131 + salt * 7 + (pos >> 8));
}

/* The guest's view of one connection (by local port, guest port). */
typedef struct Model {
    bool valid;          /* counters are trustworthy */
    uint64_t recv;       /* RW bytes received from the engine */
    uint64_t fwd;        /* what the guest told the engine it consumed */
    uint32_t buf_alloc;  /* what the guest told the engine */
    uint64_t sent;       /* RW bytes the engine accepted from the guest */
} Model;

typedef struct FuzzConn {
    VsockConn *conn;
    uint32_t salt_in;    /* pattern of guest -> endpoint bytes */
    uint32_t salt_out;
    uint64_t in_pos;     /* bytes taken from the guest */
    uint64_t out_pos;    /* bytes handed to the engine */
    uint64_t out_avail;  /* bytes the endpoint still has for the guest */
    size_t budget;       /* bytes write() may take */
    bool pending;        /* accept deferred, no decision yet */
    int64_t deadline;    /* accept timeout of a pending one */
} FuzzConn;

typedef enum AcceptMode {
    MODE_NOW,
    MODE_REFUSE,
    MODE_DEFER,
    MODE_DEFER_ACCEPTED, /* vsock_conn_accept() inside, then DEFER */
    MODE_NO_OPS,         /* NOW without vsock_conn_set_ops() */
    MODE__MAX,
} AcceptMode;

typedef struct Fuzz {
    VsockEngine *e;
    int64_t now;
    GHashTable *models;  /* (local port << 32 | guest port) -> Model */
    GPtrArray *conns;    /* live FuzzConn */
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

static void fc_forget(FuzzConn *fc)
{
    g_ptr_array_remove_fast(fz->conns, fc);
    g_free(fc);
}

static size_t fc_write(VsockConn *conn, void *opaque,
                       const struct iovec *iov, unsigned iov_cnt,
                       uint32_t flags)
{
    FuzzConn *fc = opaque;
    size_t len = iov_size(iov, iov_cnt);
    size_t n = MIN(len, fc->budget);
    uint8_t b;

    CHECK(len > 0);
    for (size_t i = 0; i < n; i++) {
        iov_to_buf(iov, iov_cnt, i, &b, 1);
        CHECK(b == pattern(fc->in_pos + i, fc->salt_in));
    }
    fc->in_pos += n;
    fc->budget -= n;
    st.partial_writes += n < len;
    return n;
}

static size_t fc_read(VsockConn *conn, void *opaque,
                      const struct iovec *iov, unsigned iov_cnt,
                      uint32_t *flags)
{
    FuzzConn *fc = opaque;
    size_t n = MIN(iov_size(iov, iov_cnt), fc->out_avail);
    size_t off = 0;

    while (off < n) {
        uint8_t chunk[256];
        size_t c = MIN(n - off, sizeof(chunk));

        for (size_t i = 0; i < c; i++) {
            chunk[i] = pattern(fc->out_pos + off + i, fc->salt_out);
        }
        iov_from_buf(iov, iov_cnt, off, chunk, c);
        off += c;
    }
    fc->out_pos += n;
    fc->out_avail -= n;
    return n;
}

static void fc_closed(VsockConn *conn, void *opaque, VsockCloseReason r)
{
    FuzzConn *fc = opaque;

    CHECK(fc->conn == conn);
    if (fc->pending) {
        CHECK(r == VSOCK_CLOSE_PEER_RST || r == VSOCK_CLOSE_PROTOCOL ||
              r == VSOCK_CLOSE_TIMEOUT || r == VSOCK_CLOSE_RESET);
        CHECK(r != VSOCK_CLOSE_TIMEOUT || fz->now >= fc->deadline);
        st.pending_closed[r]++;
    }
    fc_forget(fc);
}

static const VsockConnOps fc_ops = {
    .write = fc_write,
    .read = fc_read,
    .closed = fc_closed,
};

static FuzzConn *fc_new(VsockConn *conn, uint32_t guest_port,
                        uint32_t local_port)
{
    FuzzConn *fc = g_new0(FuzzConn, 1);

    fc->conn = conn;
    fc->salt_in = guest_port;
    fc->salt_out = local_port;
    fc->budget = SIZE_MAX;
    g_ptr_array_add(fz->conns, fc);
    return fc;
}

static VsockAcceptResult fz_accept(VsockListener *l, VsockConn *conn,
                                   void *opaque)
{
    FuzzConn *fc;

    /* a port's own listener has precedence over the fallback */
    CHECK(vsock_conn_get_local_port(conn) != VSOCK_HEARTBEAT_PORT);
    CHECK(l == fz->fallback ||
          vsock_conn_get_local_port(conn) == LPORT);
    CHECK(vsock_conn_get_state(conn) == VSOCK_CONN_ACCEPTING);
    switch (fz->mode) {
    case MODE_REFUSE:
        return VSOCK_ACCEPT_REFUSE;
    case MODE_NO_OPS:
        return VSOCK_ACCEPT_NOW; /* refused all the same */
    default:
        break;
    }
    fc = fc_new(conn, vsock_conn_get_peer_port(conn),
                vsock_conn_get_local_port(conn));
    vsock_conn_set_ops(conn, &fc_ops, fc);
    if (fz->mode == MODE_NOW) {
        return VSOCK_ACCEPT_NOW;
    }
    if (fz->mode == MODE_DEFER_ACCEPTED) {
        vsock_conn_accept(conn);
    } else {
        fc->pending = true;
        fc->deadline = fz->now + ACCEPT_TIMEOUT_NS;
        st.deferred++;
    }
    return VSOCK_ACCEPT_DEFER;
}

/* The FuzzConn of the connection (@local_port, @guest_port), if any. */
static FuzzConn *fc_find(uint32_t local_port, uint32_t guest_port)
{
    for (guint i = 0; i < fz->conns->len; i++) {
        FuzzConn *fc = g_ptr_array_index(fz->conns, i);

        if (vsock_conn_get_local_port(fc->conn) == local_port &&
            vsock_conn_get_peer_port(fc->conn) == guest_port) {
            return fc;
        }
    }
    return NULL;
}

/* A random live FuzzConn, pending ones only if @pending. */
static FuzzConn *fc_pick(Input *in, bool pending)
{
    guint n = 0, k;

    for (guint i = 0; i < fz->conns->len; i++) {
        FuzzConn *fc = g_ptr_array_index(fz->conns, i);

        n += !pending || fc->pending;
    }
    if (!n) {
        return NULL;
    }
    k = get(in, 1) % n;
    for (guint i = 0; i < fz->conns->len; i++) {
        FuzzConn *fc = g_ptr_array_index(fz->conns, i);

        if ((!pending || fc->pending) && !k--) {
            return fc;
        }
    }
    return NULL;
}

static int64_t fz_clock(void *opaque)
{
    return fz->now;
}

static const VsockEngineOps fz_ops = {
    .clock = fz_clock,
};

static void check_bounds(void)
{
    unsigned conns = vsock_engine_conn_count(fz->e);

    CHECK(conns <= MAX_CONNS);
    CHECK(fz->conns->len <= conns);
    CHECK(vsock_engine_buffered_bytes(fz->e) <= (size_t)conns * BUF_ALLOC);
    for (guint i = 0; i < fz->conns->len; i++) {
        FuzzConn *fc = g_ptr_array_index(fz->conns, i);
        VsockConnState s = vsock_conn_get_state(fc->conn);

        CHECK(s != VSOCK_CONN_CLOSED);
        CHECK(fc->pending == (s == VSOCK_CONN_ACCEPTING));
        if (fc->pending) {
            /* the guest sent nothing acceptable yet */
            CHECK(vsock_conn_get_buffered(fc->conn) == 0);
            CHECK(vsock_engine_next_deadline(fz->e) <= fc->deadline);
        }
    }
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
        LPORT, VSOCK_HEARTBEAT_PORT, 77, 0,
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
    h.type = fault == 3 ? op & 0xf : VSOCK_TYPE_STREAM;
    h.op = op < 0x80 ? VSOCK_OP_RW : op % 9;
    h.flags = get(in, 1) & 3;
    h.buf_alloc = 1024 * (1 + get(in, 1) % 64);
    if (get(in, 1) == 0xff) {
        h.fwd_cnt = get(in, 4); /* garbage */
    } else {
        /* the guest consumed some of what it received */
        h.fwd_cnt = (uint32_t)(m->fwd + get(in, 2) % (m->recv - m->fwd + 1));
    }
    if (h.op == VSOCK_OP_RW) {
        len = get(in, 2) % (misc & 1 ? MAX_PAYLOAD : 3000);
    }
    h.len = len;
    total = VSOCK_HDR_SIZE + len;
    vsock_hdr_encode(&h, fz->buf);
    for (uint32_t i = 0; i < len; i++) {
        fz->buf[VSOCK_HDR_SIZE + i] = pattern(m->sent + i, gport);
    }
    if (fault == 4) {
        h.len = len + 1; /* lie about the length */
        vsock_hdr_encode(&h, fz->buf);
    }
    cnt = split(in, fz->buf, total, iov);
    if (fault == 5 && total) {
        total -= get(in, 1) % (total + 1); /* short chain */
    }
    r = vsock_engine_handle_tx(fz->e, iov, cnt, total);
    st.results[r]++;
    CHECK((unsigned)r < VSOCK_TX__MAX);
    CHECK(strcmp(vsock_tx_result_str(r), "?") != 0);
    if (r != VSOCK_TX_OK) {
        if (h.op == VSOCK_OP_REQUEST && r != VSOCK_TX_SHORT_HDR &&
            r != VSOCK_TX_BAD_LEN && r != VSOCK_TX_BAD_SRC_CID) {
            m->valid = false;
        }
        return;
    }
    if (h.src_cid != GUEST || h.op == VSOCK_OP_RST) {
        return;
    }
    if (h.op == VSOCK_OP_REQUEST) {
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
    if (h.op == VSOCK_OP_RW) {
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
    FuzzConn *fc;

    if (!in->left || (get(in, 1) & 1)) {
        size = VSOCK_HDR_SIZE + 4096;
    }
    memset(fz->buf, 0, size);
    cnt = split(in, fz->buf, size, iov);
    if (!vsock_engine_fill_rx(fz->e, iov, cnt, &len)) {
        CHECK(len == 0);
        return;
    }
    CHECK(len >= VSOCK_HDR_SIZE && len <= size);
    vsock_hdr_decode(&h, fz->buf);
    CHECK(h.len == len - VSOCK_HDR_SIZE);
    CHECK(h.dst_cid == GUEST);
    CHECK(h.op != VSOCK_OP_RW || h.len > 0);
    CHECK(h.len <= VSOCK_MAX_PKT_PAYLOAD);
    fc = fc_find(h.src_port, h.dst_port);
    if (fc && fc->pending) {
        /* only an RST answering an earlier packet on the same ports */
        CHECK(h.op == VSOCK_OP_RST && h.buf_alloc == 0);
    }
    m = model(h.src_port, h.dst_port);
    switch (h.op) {
    case VSOCK_OP_REQUEST:
        model_reset(m, 0, 0);
        break;
    case VSOCK_OP_RST:
        m->valid = false;
        break;
    case VSOCK_OP_RW:
        CHECK(h.len <= len);
        if (m->valid) {
            /* never beyond the guest's credit */
            CHECK(m->recv - m->fwd + h.len <= m->buf_alloc);
        }
        if (m->valid && h.src_port != VSOCK_HEARTBEAT_PORT) {
            for (uint32_t i = 0; i < h.len; i++) {
                CHECK(fz->buf[VSOCK_HDR_SIZE + i] ==
                      pattern(m->recv + i, h.src_port));
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
        fz->fallback = vsock_engine_listen(fz->e, PARENT, VSOCK_PORT_ANY,
                                           VSOCK_TYPE_STREAM, fz_accept,
                                           NULL);
        CHECK(fz->fallback);
        /* one fallback per CID */
        CHECK(!vsock_engine_listen(fz->e, PARENT, VSOCK_PORT_ANY,
                                   VSOCK_TYPE_SEQPACKET, fz_accept, NULL));
    }
}

static void endpoint_event(Input *in)
{
    uint32_t what = get(in, 1);
    FuzzConn *fc;
    VsockConn *conn;

    switch (what % 10) {
    case 6:
        policy_event(in);
        return;
    case 7: {
        uint32_t gport = 1000 + get(in, 1) % 4;

        conn = vsock_engine_connect(fz->e, PARENT, VSOCK_PORT_ANY, gport,
                                    VSOCK_TYPE_STREAM, &fc_ops, NULL);
        if (conn) {
            fc = fc_new(conn, gport, vsock_conn_get_local_port(conn));
            vsock_conn_set_ops(conn, &fc_ops, fc);
            fz->last_host_port = vsock_conn_get_local_port(conn);
        }
        return;
    }
    case 8:
    case 9:
        /* the endpoint decides about a deferred connection */
        fc = fc_pick(in, true);
        if (!fc) {
            return;
        }
        conn = fc->conn;
        fc->pending = false;
        if (what % 10 == 8) {
            st.accepted++;
            vsock_conn_accept(conn);
            CHECK(vsock_conn_get_state(conn) == VSOCK_CONN_ESTABLISHED);
            vsock_conn_accept(conn); /* twice: nothing */
        } else {
            st.refused_later++;
            fc_forget(fc);
            vsock_conn_reset(conn);
        }
        return;
    }
    fc = fc_pick(in, false);
    if (!fc) {
        return;
    }
    conn = fc->conn;
    switch (what % 10) {
    case 0:
    case 1:
        fc->out_avail += get(in, 2);
        vsock_conn_notify_readable(conn);
        break;
    case 2:
        fc->budget = get(in, 2) % (what >> 7 ? 65536 : 4096);
        vsock_conn_notify_writable(conn);
        break;
    case 3:
        vsock_conn_shutdown(conn, get(in, 1) & 3);
        break;
    case 4:
        fc_forget(fc);
        vsock_conn_close(conn);
        break;
    default:
        fc_forget(fc);
        vsock_conn_reset(conn);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Input in = { data, size };
    VsockEngineConfig cfg;
    VsockHeartbeat *hb;
    Fuzz f = { 0 };
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
    f.conns = g_ptr_array_new();
    f.last_host_port = 49152;
    vsock_engine_config_init(&cfg);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    cfg.max_conns = MAX_CONNS;
    cfg.buf_alloc = BUF_ALLOC;
    cfg.credit_threshold = BUF_ALLOC / 4;
    cfg.max_pending_rst = 4;
    cfg.accept_timeout_ns = ACCEPT_TIMEOUT_NS;
    cfg.ops = &fz_ops;
    f.e = vsock_engine_new(&cfg);
    CHECK(vsock_engine_listen(f.e, PARENT, LPORT, VSOCK_TYPE_STREAM,
                              fz_accept, NULL));
    f.fallback = vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                                     VSOCK_TYPE_STREAM, fz_accept, NULL);
    CHECK(f.fallback);
    hb = vsock_heartbeat_new(f.e, PARENT, VSOCK_HEARTBEAT_PORT);
    CHECK(hb);

    while (in.left && steps++ < 4096) {
        uint32_t cmd = get(&in, 1);

        switch (cmd % 8) {
        case 0:
        case 1:
        case 2:
            if (vsock_engine_tx_ready(f.e) || (cmd & 0x80)) {
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
            f.now += (int64_t)get(&in, 2) * 1000000;
            vsock_engine_run_timers(f.e);
            CHECK(vsock_engine_next_deadline(f.e) > f.now);
            for (guint i = 0; i < f.conns->len; i++) {
                FuzzConn *fc = g_ptr_array_index(f.conns, i);

                CHECK(!fc->pending || fc->deadline > f.now);
            }
            break;
        default:
            if (cmd == 0xff) {
                vsock_engine_reset(f.e);
                CHECK(vsock_engine_conn_count(f.e) == 0);
                CHECK(f.conns->len == 0);
                g_hash_table_remove_all(f.models);
            } else {
                (void)vsock_engine_rx_pending(f.e);
            }
            break;
        }
        check_bounds();
    }
    /* drain: the rx queue must empty out in bounded steps */
    for (steps = 0; vsock_engine_rx_pending(f.e); steps++) {
        Input none = { NULL, 0 };

        CHECK(steps < 100000);
        guest_receive(&none);
        if (steps > 20000) {
            /* endpoints with endless data: let them stop */
            for (guint i = 0; i < f.conns->len; i++) {
                ((FuzzConn *)g_ptr_array_index(f.conns, i))->out_avail = 0;
            }
        }
    }
    vsock_heartbeat_free(hb);
    vsock_listener_free(f.fallback);
    vsock_engine_free(f.e);
    CHECK(f.conns->len == 0); /* every endpoint was told */
    g_ptr_array_free(f.conns, true);
    g_hash_table_destroy(f.models);
    g_free(f.buf);
    return 0;
}
