/*
 * uring_plaintext.c -- EXPERIMENT, not product code.
 *
 * A minimal single-threaded HTTP/1.1 "/plaintext" responder written directly on liburing, to
 * measure how much server CPU per request a hand-written io_uring loop costs compared with
 * nginx and lithe (epoll) on the same machine. It answers EVERY complete request head
 * ("\r\n\r\n"-terminated) with the same fixed 200 response; it does no real parsing, routing,
 * timeouts, Date updates or request bodies.
 *
 * io_uring features used: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (falls back
 * to a plain ring), a registered ring fd, multishot accept, per-connection multishot recv
 * with a provided-buffer ring (1024 x 4 KiB), one send per recv completion (responses for all
 * pipelined requests in it concatenated), one io_uring_submit_and_wait(ring, 1) per loop
 * iteration followed by draining every CQE.
 *
 * Build: gcc -O2 -Wall -o /tmp/uring_plaintext bench/experiments/uring_plaintext.c -luring
 * Run:   /tmp/uring_plaintext 18080 [waitsends]   (listens on 127.0.0.1:18080; see waitsends below;
 *        kill -USR1 PID prints loop/CQE/request counters to stderr)
 *        curl -s http://127.0.0.1:18080/plaintext
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define RING_ENTRIES 4096
#define NBUFS 1024 /* provided buffers, power of two */
#define BUFSZ 4096
#define BGID 0
#define MAX_HEAD 8192 /* a request head larger than this closes the connection */

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CLOSE };
#define UD(op, fd) (((unsigned long long)(op) << 32) | (unsigned)(fd))

static const char RESP[] = "HTTP/1.1 200 OK\r\nServer: lithe\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 13\r\nDate: Sun, 30 Nov 2025 19:51:00 GMT\r\n\r\n"
                           "Hello, World!";
#define RESP_LEN (sizeof(RESP) - 1)

struct obuf { char *p; size_t len, cap; };
struct conn {
    char *part; size_t plen;  /* bytes of an incomplete request head */
    struct obuf out[2];       /* out[cur] is being sent (from off), out[!cur] collects new data */
    int cur; size_t off;
    int sending, closing, recv_done;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static struct conn *conns;
static int listen_fd;
/* argv[2] == "waitsends": wait for 1 + (sends just queued) CQEs, so that the CQEs of sends that
 * complete inline during submission do not end the wait (1 ms timeout as a safety net; sends
 * use MSG_WAITALL so a short send is retried by the kernel, not by this loop). */
static int waitsends; static unsigned queued_sends;
/* counters, printed to stderr on SIGUSR1: loop iterations (= io_uring_enter calls), CQEs,
 * requests answered, multishot recv re-arms (ENOBUFS or otherwise) */
static unsigned long long n_loops, n_cqes, n_reqs, n_rearms;
static volatile sig_atomic_t dump;
static void on_usr1(int sig) { (void)sig; dump = 1; }

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    while (!s) { io_uring_submit(&ring); s = io_uring_get_sqe(&ring); }
    return s;
}
static void arm_accept(void) {
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, UD(OP_ACCEPT, listen_fd));
}
static void arm_recv(int fd) {
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = BGID;
    io_uring_sqe_set_data64(s, UD(OP_RECV, fd));
}
static void send_cur(int fd) {
    struct conn *c = &conns[fd];
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, fd, c->out[c->cur].p + c->off, c->out[c->cur].len - c->off,
                       MSG_NOSIGNAL | (waitsends ? MSG_WAITALL : 0));
    queued_sends++;
    io_uring_sqe_set_data64(s, UD(OP_SEND, fd));
    c->sending = 1;
}
static void do_close(int fd) {  /* only when no recv and no send is outstanding */
    struct conn *c = &conns[fd];
    free(c->part); free(c->out[0].p); free(c->out[1].p);
    memset(c, 0, sizeof *c);
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_close(s, fd);
    io_uring_sqe_set_data64(s, UD(OP_CLOSE, fd));
}
static void append(struct obuf *b, size_t n) {  /* n fixed responses */
    if (b->len + n * RESP_LEN > b->cap) {
        b->cap = (b->len + n * RESP_LEN) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) { perror("realloc"); exit(1); }
    }
    for (size_t i = 0; i < n; i++, b->len += RESP_LEN) memcpy(b->p + b->len, RESP, RESP_LEN);
}
/* Count complete heads in [p, p+n); returns the count and sets *used to the bytes they span. */
static size_t count_heads(const char *p, size_t n, size_t *used) {
    size_t k = 0, i = 0, last = 0;
    while (i + 4 <= n) {
        const char *q = memmem(p + i, n - i, "\r\n\r\n", 4);
        if (!q) break;
        i = last = (size_t)(q - p) + 4;
        k++;
    }
    *used = last;
    return k;
}
/* Feed received bytes; returns -1 to close. */
static int on_data(int fd, const char *d, size_t n) {
    struct conn *c = &conns[fd];
    size_t used, k;
    if (c->plen == 0) {  /* common case: scan the provided buffer in place */
        k = count_heads(d, n, &used);
        d += used; n -= used;
    } else {
        if (c->plen + n > MAX_HEAD) return -1;
        memcpy(c->part + c->plen, d, n);
        c->plen += n;
        k = count_heads(c->part, c->plen, &used);
        memmove(c->part, c->part + used, c->plen - used);
        c->plen -= used; n = 0;
    }
    if (n) {  /* keep the tail of an incomplete head */
        if (n > MAX_HEAD) return -1;
        if (!c->part && !(c->part = malloc(MAX_HEAD))) { perror("malloc"); exit(1); }
        memcpy(c->part, d, n);
        c->plen = n;
    }
    n_reqs += k;
    if (k) {
        if (c->sending) append(&c->out[!c->cur], k);
        else { c->out[c->cur].len = 0; c->off = 0; append(&c->out[c->cur], k); send_cur(fd); }
    }
    return 0;
}

static void setup_buf_ring(void) {  /* liburing 2.3 has no io_uring_setup_buf_ring() */
    size_t sz = NBUFS * sizeof(struct io_uring_buf);
    br = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED) { perror("mmap"); exit(1); }
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID };
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r) { fprintf(stderr, "register_buf_ring: %s\n", strerror(-r)); exit(1); }
    if (posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUFSZ)) { perror("alloc"); exit(1); }
    io_uring_buf_ring_init(br);
    for (int i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSZ, BUFSZ, i, NBUFS - 1, i);
    io_uring_buf_ring_advance(br, NBUFS);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT [waitsends]\n", argv[0]); return 2; }
    waitsends = argc > 2 && !strcmp(argv[2], "waitsends");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl);
    size_t maxfd = rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur;
    conns = calloc(maxfd, sizeof *conns);

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 4096)) { perror("listen"); return 1; }

    struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    int r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    if (r < 0) {
        fprintf(stderr, "DEFER_TASKRUN unsupported (%s), plain ring\n", strerror(-r));
        memset(&p, 0, sizeof p);
        if ((r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p)) < 0) { fprintf(stderr, "queue_init: %s\n", strerror(-r)); return 1; }
    }
    io_uring_register_ring_fd(&ring);
    setup_buf_ring();
    arm_accept();
    fprintf(stderr, "listening on 127.0.0.1:%s\n", argv[1]);

    signal(SIGUSR1, on_usr1);
    for (;;) {
        if (dump) {
            dump = 0;
            fprintf(stderr, "loops %llu cqes %llu reqs %llu rearms %llu\n", n_loops, n_cqes, n_reqs, n_rearms);
        }
        if (waitsends) {
            struct __kernel_timespec ts = { .tv_nsec = 1000000 };
            struct io_uring_cqe *unused;
            r = io_uring_submit_and_wait_timeout(&ring, &unused, 1 + queued_sends, &ts, NULL);
            if (r == -ETIME) r = 0;
        } else r = io_uring_submit_and_wait(&ring, 1);
        queued_sends = 0;
        n_loops++;
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) { fprintf(stderr, "submit_and_wait: %s\n", strerror(-r)); return 1; }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0, returned = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            unsigned long long ud = io_uring_cqe_get_data64(cqe);
            int op = (int)(ud >> 32), fd = (int)(ud & 0xffffffffu), res = cqe->res;
            int more = cqe->flags & IORING_CQE_F_MORE;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(res);
                }
                if (!more) arm_accept();
            } else if (op == OP_RECV) {
                struct conn *c = &conns[fd];
                if (cqe->flags & IORING_CQE_F_BUFFER) {
                    int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    if (res > 0 && !c->closing && on_data(fd, bufs + (size_t)bid * BUFSZ, res) < 0) {
                        c->closing = 1;
                        shutdown(fd, SHUT_RDWR);  /* ends the multishot recv */
                    }
                    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSZ, BUFSZ, bid, NBUFS - 1, returned++);
                }
                if (!more) {
                    if ((res == -ENOBUFS || res > 0) && !c->closing) { arm_recv(fd); n_rearms++; }
                    else { c->closing = c->recv_done = 1; if (!c->sending) do_close(fd); }
                }
            } else if (op == OP_SEND) {
                struct conn *c = &conns[fd];
                c->sending = 0;
                if (res < 0) {  /* the close follows once the recv has ended */
                    if (!c->closing) { c->closing = 1; shutdown(fd, SHUT_RDWR); }
                } else if (c->closing) {
                } else if ((c->off += res) < c->out[c->cur].len) {
                    send_cur(fd);  /* short send: the rest */
                } else if (c->out[!c->cur].len) {
                    c->out[c->cur].len = 0; c->cur = !c->cur; c->off = 0; send_cur(fd);
                }
                if (c->closing && !c->sending && c->recv_done) do_close(fd);
            }
        }
        io_uring_cq_advance(&ring, seen);
        n_cqes += seen;
        if (returned) io_uring_buf_ring_advance(br, returned);
    }
}
