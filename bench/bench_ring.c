/* Throughput of zs__ring against Concurrency Kit's SPSC ring and a mutex +
 * condition variable queue, one producer and one consumer thread each.
 *
 * Every implementation moves whole 448-byte events, in the same capacity,
 * and its consumer checks that every seq arrives once and in order, so a
 * broken queue fails the run instead of looking fast.
 *
 * usage: bench_ring [-n EVENTS] [-c CAPACITY] */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#ifdef HAVE_CK
#include <ck_ring.h>
#endif

#define DEFAULT_EVENTS 10000000ull
#define DEFAULT_CAPACITY 65536ull
#define WARMUP_EVENTS 1000000ull
#define REPEATS 3

/* One timed transfer: the queue, how many events, and the consumer's
 * verdict (the first seq that did not arrive where expected, or 0). */
struct run {
    void *queue;
    uint64_t count;
    pthread_barrier_t *start;
    uint64_t first_bad;
};

struct implementation {
    const char *name;
    void *(*create)(size_t capacity);
    void (*destroy)(void *queue);
    void *(*produce)(void *run);
    void *(*consume)(void *run);
};

/* With one CPU a spinning thread only delays the other: yield instead. */
static bool yield_when_waiting;

static void wait_a_moment(void)
{
    if (yield_when_waiting) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_ring: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FAILURE);
}

static void *aligned_or_die(size_t size)
{
    void *p;
    if (posix_memalign(&p, 64, size) != 0)
        die("out of memory for %zu bytes", size);
    memset(p, 0, size);
    return p;
}

/* A realistic event: every text field carries something. */
static zmqsink_event_t template_event(void)
{
    zmqsink_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = ZMQSINK_EVENT_ACCEPTED;
    ev.duration_ms = -1;
    snprintf(ev.socket, sizeof ev.socket, "frontend");
    snprintf(ev.endpoint, sizeof ev.endpoint, "tcp://127.0.0.1:5555");
    snprintf(ev.peer, sizeof ev.peer, "127.0.0.1:40000");
    return ev;
}

/* Returns the seq expected after this one; remembers the first miss. */
static inline uint64_t check_seq(struct run *run, uint64_t seq, uint64_t next)
{
    if (seq != next && !run->first_bad)
        run->first_bad = next;
    return next + 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- zs__ring: push one, peek and release whole runs ---- */

static void *zs_create(size_t capacity)
{
    zs__ring_t *ring = zs__ring_new(capacity);
    if (!ring)
        die("zs__ring_new(%zu): %s", capacity, strerror(errno));
    return ring;
}

static void zs_destroy(void *queue)
{
    zs__ring_t *ring = queue;
    zs__ring_destroy(&ring);
}

static void *zs_produce(void *arg)
{
    struct run *run = arg;
    zmqsink_event_t ev = template_event();
    pthread_barrier_wait(run->start);
    for (uint64_t seq = 1; seq <= run->count; seq++) {
        ev.seq = seq;
        while (!zs__ring_push(run->queue, &ev))
            wait_a_moment();
    }
    return NULL;
}

static void *zs_consume(void *arg)
{
    struct run *run = arg;
    uint64_t next = 1;
    pthread_barrier_wait(run->start);
    while (next <= run->count) {
        const zmqsink_event_t *first;
        size_t n = zs__ring_peek(run->queue, &first);
        if (n == 0) {
            wait_a_moment();
            continue;
        }
        for (size_t i = 0; i < n; i++)
            next = check_seq(run, first[i].seq, next);
        zs__ring_release(run->queue, n);
    }
    return NULL;
}

/* ---- Concurrency Kit: ck_ring SPSC with 448-byte records copied in and
 * out (CK_RING_PROTOTYPE), which holds capacity - 1 of them ---- */

#ifdef HAVE_CK
CK_RING_PROTOTYPE(event, zmqsink_event)

struct ck_queue {
    struct ck_ring ring;
    zmqsink_event_t *buffer;
};

static void *ck_create(size_t capacity)
{
    struct ck_queue *q = aligned_or_die(sizeof *q);
    q->buffer = aligned_or_die(capacity * sizeof(zmqsink_event_t));
    ck_ring_init(&q->ring, (unsigned int)capacity);
    return q;
}

static void ck_destroy(void *queue)
{
    struct ck_queue *q = queue;
    free(q->buffer);
    free(q);
}

static void *ck_produce(void *arg)
{
    struct run *run = arg;
    struct ck_queue *q = run->queue;
    zmqsink_event_t ev = template_event();
    pthread_barrier_wait(run->start);
    for (uint64_t seq = 1; seq <= run->count; seq++) {
        ev.seq = seq;
        while (!CK_RING_ENQUEUE_SPSC(event, &q->ring, q->buffer, &ev))
            wait_a_moment();
    }
    return NULL;
}

static void *ck_consume(void *arg)
{
    struct run *run = arg;
    struct ck_queue *q = run->queue;
    zmqsink_event_t ev;
    uint64_t next = 1;
    pthread_barrier_wait(run->start);
    while (next <= run->count) {
        if (!CK_RING_DEQUEUE_SPSC(event, &q->ring, q->buffer, &ev)) {
            wait_a_moment();
            continue;
        }
        next = check_seq(run, ev.seq, next);
    }
    return NULL;
}
#endif

/* ---- mutex + condition variables: the same peek/release shape as
 * zs__ring, with a lock around every index change; threads sleep when
 * the queue is full or empty and are woken on the transition ---- */

struct locked_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    zmqsink_event_t *slots;
    size_t capacity;
    size_t head;
    size_t count;
};

static void *locked_create(size_t capacity)
{
    struct locked_queue *q = aligned_or_die(sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    q->slots = aligned_or_die(capacity * sizeof(zmqsink_event_t));
    q->capacity = capacity;
    return q;
}

static void locked_destroy(void *queue)
{
    struct locked_queue *q = queue;
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
    free(q->slots);
    free(q);
}

static void locked_push(struct locked_queue *q, const zmqsink_event_t *ev)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == q->capacity)
        pthread_cond_wait(&q->not_full, &q->lock);
    size_t index = (q->head + q->count) & (q->capacity - 1);
    memcpy(&q->slots[index], ev, sizeof *ev);
    if (q->count++ == 0)
        pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

/* The slots stay the consumer's until released, so it reads them
 * without the lock. */
static size_t locked_peek(struct locked_queue *q, const zmqsink_event_t **first)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->lock);
    size_t before_wrap = q->capacity - q->head;
    size_t n = q->count < before_wrap ? q->count : before_wrap;
    *first = &q->slots[q->head];
    pthread_mutex_unlock(&q->lock);
    return n;
}

static void locked_release(struct locked_queue *q, size_t n)
{
    pthread_mutex_lock(&q->lock);
    if (q->count == q->capacity)
        pthread_cond_signal(&q->not_full);
    q->head = (q->head + n) & (q->capacity - 1);
    q->count -= n;
    pthread_mutex_unlock(&q->lock);
}

static void *locked_produce(void *arg)
{
    struct run *run = arg;
    zmqsink_event_t ev = template_event();
    pthread_barrier_wait(run->start);
    for (uint64_t seq = 1; seq <= run->count; seq++) {
        ev.seq = seq;
        locked_push(run->queue, &ev);
    }
    return NULL;
}

static void *locked_consume(void *arg)
{
    struct run *run = arg;
    uint64_t next = 1;
    pthread_barrier_wait(run->start);
    while (next <= run->count) {
        const zmqsink_event_t *first;
        size_t n = locked_peek(run->queue, &first);
        for (size_t i = 0; i < n; i++)
            next = check_seq(run, first[i].seq, next);
        locked_release(run->queue, n);
    }
    return NULL;
}

/* ---- the harness ---- */

static const struct implementation implementations[] = {
    {"zs__ring", zs_create, zs_destroy, zs_produce, zs_consume},
#ifdef HAVE_CK
    {"ck_ring spsc", ck_create, ck_destroy, ck_produce, ck_consume},
#endif
    {"mutex+condvar", locked_create, locked_destroy, locked_produce,
     locked_consume},
};
#define IMPLEMENTATIONS (sizeof implementations / sizeof implementations[0])

/* The producer's and the consumer's CPU, or -1 each when not pinned. */
static int pinned_cpu[2] = {-1, -1};

static void choose_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) {
        yield_when_waiting = true;
        return;
    }
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
        if (CPU_ISSET(cpu, &set))
            pinned_cpu[found++] = cpu;
}

static pthread_t start_thread(void *(*fn)(void *), struct run *run, int cpu)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, fn, run);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        die("pthread_create: %s", strerror(rc));
    return thread;
}

/* Seconds to move count events; dies if any arrived out of order. */
static double time_transfer(const struct implementation *impl, void *queue,
                            uint64_t count)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 3);
    struct run run = {queue, count, &start, 0};
    pthread_t producer = start_thread(impl->produce, &run, pinned_cpu[0]);
    pthread_t consumer = start_thread(impl->consume, &run, pinned_cpu[1]);
    pthread_barrier_wait(&start);
    double began = now_seconds();
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    double seconds = now_seconds() - began;
    pthread_barrier_destroy(&start);
    if (run.first_bad)
        die("%s: event %" PRIu64 " did not arrive in order", impl->name,
            run.first_bad);
    return seconds;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct timing {
    double median; /* seconds */
    double best;
};

/* REPEATS timed transfers after one warm-up, which also faults in the
 * slots. The best run shows what the code can do when the machine leaves
 * it alone; the median, what it did. */
static struct timing measure(const struct implementation *impl,
                             size_t capacity, uint64_t count)
{
    void *queue = impl->create(capacity);
    time_transfer(impl, queue, count < WARMUP_EVENTS ? count : WARMUP_EVENTS);
    double seconds[REPEATS];
    for (int i = 0; i < REPEATS; i++)
        seconds[i] = time_transfer(impl, queue, count);
    impl->destroy(queue);
    qsort(seconds, REPEATS, sizeof seconds[0], compare_doubles);
    return (struct timing){seconds[REPEATS / 2], seconds[0]};
}

static unsigned long long parse_count(const char *text, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || value == 0)
        die("%s must be a positive integer, not '%s'", what, text);
    return value;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_ring [-n EVENTS] [-c CAPACITY]\n"
                 "  -n EVENTS    events per timed run (default %llu)\n"
                 "  -c CAPACITY  slots per queue, a power of two (default "
                 "%llu)\n",
            DEFAULT_EVENTS, DEFAULT_CAPACITY);
}

int main(int argc, char **argv)
{
    unsigned long long count = DEFAULT_EVENTS, capacity = DEFAULT_CAPACITY;
    int opt;
    while ((opt = getopt(argc, argv, "n:c:h")) != -1) {
        switch (opt) {
        case 'n': count = parse_count(optarg, "-n"); break;
        case 'c': capacity = parse_count(optarg, "-c"); break;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return EXIT_FAILURE;
        }
    }
    if (capacity < 2 || (capacity & (capacity - 1)) || capacity > 1u << 30)
        die("-c must be a power of two from 2 to 2^30, not %llu", capacity);

    choose_cpus();
    printf("%llu events of %zu bytes per run, capacity %llu, ", count,
           sizeof(zmqsink_event_t), capacity);
    if (pinned_cpu[0] >= 0)
        printf("producer on CPU %d, consumer on CPU %d\n", pinned_cpu[0],
               pinned_cpu[1]);
    else
        printf("threads not pinned (fewer than 2 CPUs)\n");
    printf("one warm-up, median of %d runs, every seq checked in order\n\n",
           REPEATS);
    printf("%-14s %10s %9s %12s %10s\n", "implementation", "Mevents/s",
           "ns/event", "vs zs__ring", "best Mev/s");

    double reference = 0;
    for (size_t i = 0; i < IMPLEMENTATIONS; i++) {
        struct timing t = measure(&implementations[i], capacity, count);
        double rate = (double)count / t.median;
        if (i == 0)
            reference = rate;
        printf("%-14s %10.2f %9.1f %11.2fx %10.2f\n",
               implementations[i].name, rate / 1e6,
               t.median * 1e9 / (double)count, rate / reference,
               (double)count / t.best / 1e6);
        fflush(stdout);
    }
    printf("\nMevents/s and ns/event are medians; vs zs__ring is throughput "
           "relative to zs__ring.\n");
#ifdef HAVE_CK
    printf("ck_ring copies each record in and out (CK_RING_PROTOTYPE) and "
           "holds capacity - 1;\nthe others' consumers read events in place.\n");
#else
    printf("ck_ring skipped: built without Concurrency Kit.\n");
#endif
    return EXIT_SUCCESS;
}
