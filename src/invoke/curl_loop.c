/* curl_loop.c — libcurl's multi-socket API on a libev loop, and the POST request on top of it.
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION -> one ev_io per socket) and
 * when to wake it (CURLMOPT_TIMERFUNCTION -> one ev_timer); we hand the events back with
 * curl_multi_socket_action() and collect finished transfers with curl_multi_info_read().
 * Completion callbacks run only from our ev callbacks, never from inside trg_curl_loop_add().
 */
#include "curl_loop.h"

#include <ctype.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../log.h"

/* A transfer in progress: the callback of one easy handle (its CURLOPT_PRIVATE). */
struct xfer {
    CURL *easy;
    trg_curl_done_cb cb;
    void *arg;
    bool queued; /* added from inside a libcurl callback: waits for the kick */
    struct xfer *prev, *next;
};

/* A socket libcurl asked us to watch (assigned to it with curl_multi_assign()). */
struct csock {
    ev_io io;
    curl_socket_t fd;
    struct trg_curl_loop *cl;
    struct csock *prev, *next;
};

struct trg_curl_loop {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    ev_timer kick; /* 0 s: adds the queued transfers on the next loop turn */
    int refs;
    int depth;   /* > 0 while one of our ev callbacks runs; the last release waits for it */
    int in_action; /* > 0 inside curl_multi_socket_action(): libcurl refuses curl_multi_add_handle */
    bool closing;
    struct xfer *xfers;
    struct csock *socks;
    size_t active;
    CURL *idle[16];  /* easy handles of finished posts, reset, for the next ones (init and cleanup cost more) */
    int n_idle;
    struct trg_curl_loop *next; /* the list of curl loops, one per ev loop */
};

/* One curl loop per ev loop. trigd runs one loop per thread and no curl loop is shared between
 * threads, so this list is only touched from the one thread that owns each loop's entry. */
static struct trg_curl_loop *curl_loops;

static void curl_loop_free(struct trg_curl_loop *cl);

/* Finish one socket_action round: run the callbacks of finished transfers. The xfer record is
 * detached before its callback so the callback may add, remove or release freely. */
static void curl_loop_dispatch(struct trg_curl_loop *cl)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(cl->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct xfer *x = (struct xfer *)priv;
        if (!x) {
            curl_multi_remove_handle(cl->multi, easy);
            continue;
        }
        trg_curl_done_cb cb = x->cb;
        void *arg = x->arg;
        trg_curl_loop_remove(cl, easy); /* frees x, invalidates msg */
        cb(arg, easy, code);
    }
}

static void curl_loop_leave(struct trg_curl_loop *cl)
{
    cl->depth--;
    if (cl->depth == 0 && cl->refs == 0)
        curl_loop_free(cl);
}

static void curl_loop_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct csock *s = w->data;
    struct trg_curl_loop *cl = s->cl;
    curl_socket_t fd = s->fd; /* s may be freed by socket_action (CURL_POLL_REMOVE) */
    int action = 0;
    int running = 0;

    (void)loop;
    if (revents & EV_READ)
        action |= CURL_CSELECT_IN;
    if (revents & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    if (revents & EV_ERROR)
        action |= CURL_CSELECT_ERR;
    cl->depth++;
    cl->in_action++;
    CURLMcode rc = curl_multi_socket_action(cl->multi, fd, action, &running);
    cl->in_action--;
    if (rc != CURLM_OK)
        trg_warn("curl", NULL, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    curl_loop_dispatch(cl);
    curl_loop_leave(cl);
}

static void curl_loop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct trg_curl_loop *cl = w->data;
    int running = 0;

    (void)loop;
    (void)revents;
    cl->depth++;
    cl->in_action++;
    CURLMcode rc = curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    cl->in_action--;
    if (rc != CURLM_OK)
        trg_warn("curl", NULL, "curl_multi_socket_action: %s", curl_multi_strerror(rc));
    curl_loop_dispatch(cl);
    curl_loop_leave(cl);
}

static int xfer_start(struct trg_curl_loop *cl, struct xfer *x)
{
    CURLMcode rc = curl_multi_add_handle(cl->multi, x->easy);

    if (rc == CURLM_OK)
        return 0;
    trg_error("curl", NULL, "curl_multi_add_handle: %s", curl_multi_strerror(rc));
    return rc == CURLM_OUT_OF_MEMORY ? TRG_ENOMEM : TRG_EIO;
}

/* Transfers added from inside a libcurl callback (a write callback that emits an event whose
 * invocation starts at once) start here, on the next loop turn. One that libcurl refuses now
 * finishes with an error through its callback, as a failed transfer would. */
static void curl_loop_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct trg_curl_loop *cl = w->data;
    struct xfer *x;

    (void)loop;
    (void)revents;
    cl->depth++;
    do {
        for (x = cl->xfers; x && !x->queued; x = x->next)
            ;
        if (!x)
            break;
        x->queued = false;
        int err = xfer_start(cl, x);
        if (err < 0) {
            CURL *easy = x->easy;
            trg_curl_done_cb cb = x->cb;
            void *arg = x->arg;
            trg_curl_loop_remove(cl, easy);
            cb(arg, easy, err == TRG_ENOMEM ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT);
        }
    } while (!cl->closing);
    curl_loop_leave(cl);
}

static void csock_free(struct csock *s)
{
    struct trg_curl_loop *cl = s->cl;

    ev_io_stop(cl->loop, &s->io);
    if (s->prev)
        s->prev->next = s->next;
    else
        cl->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    trg_free(s);
}

/* CURLMOPT_SOCKETFUNCTION. Stopping and freeing a watcher from inside its own callback is allowed
 * by libev; curl_loop_io_cb() touches nothing of s after socket_action returns. */
static int curl_loop_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct trg_curl_loop *cl = userp;
    struct csock *s = socketp;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(cl->multi, fd, NULL);
            csock_free(s);
        }
        return 0;
    }
    if (!s) {
        s = trg_calloc(1, sizeof(*s));
        if (!s) {
            trg_error("curl", NULL, "out of memory watching a socket; the transfer will fail");
            return -1;
        }
        s->fd = fd;
        s->cl = cl;
        s->io.data = s;
        s->next = cl->socks;
        if (cl->socks)
            cl->socks->prev = s;
        cl->socks = s;
        curl_multi_assign(cl->multi, fd, s);
        ev_init(&s->io, curl_loop_io_cb);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= EV_WRITE;
    ev_io_stop(cl->loop, &s->io);
    ev_io_set(&s->io, fd, events);
    ev_io_start(cl->loop, &s->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 deletes the timer, 0 means "as soon as possible". */
static int curl_loop_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct trg_curl_loop *cl = userp;

    (void)multi;
    ev_timer_stop(cl->loop, &cl->timer);
    if (timeout_ms >= 0 && !cl->closing) {
        ev_timer_set(&cl->timer, (double)timeout_ms / 1000.0, 0.0);
        ev_timer_start(cl->loop, &cl->timer);
    }
    return 0;
}

static int curl_loops_count(void)
{
    int n = 0;
    for (struct trg_curl_loop *c = curl_loops; c; c = c->next)
        n++;
    return n;
}

static void curl_loop_free(struct trg_curl_loop *cl)
{
    cl->closing = true;
    while (cl->xfers) {
        trg_warn("curl", NULL, "a transfer was still running when its curl loop closed; cancelled");
        trg_curl_loop_remove(cl, cl->xfers->easy);
    }
    curl_multi_cleanup(cl->multi); /* may report CURL_POLL_REMOVE for pooled connections */
    while (cl->n_idle > 0)
        curl_easy_cleanup(cl->idle[--cl->n_idle]);
    while (cl->socks)
        csock_free(cl->socks);
    ev_timer_stop(cl->loop, &cl->timer);
    ev_timer_stop(cl->loop, &cl->kick);
    for (struct trg_curl_loop **pp = &curl_loops; *pp; pp = &(*pp)->next) {
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    }
    trg_free(cl);
    if (!curl_loops)
        curl_global_cleanup();
}

int trg_curl_loop_acquire(struct ev_loop *loop, struct trg_curl_loop **out)
{
    struct trg_curl_loop *cl;

    *out = NULL;
    for (cl = curl_loops; cl; cl = cl->next) {
        if (cl->loop == loop) {
            cl->refs++;
            *out = cl;
            return 0;
        }
    }
    cl = trg_calloc(1, sizeof(*cl));
    if (!cl)
        return TRG_ENOMEM;
    if (curl_loops_count() == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        trg_error("curl", NULL, "curl_global_init failed; http and lambda functions cannot run");
        goto fail;
    }
    cl->loop = loop;
    cl->refs = 1;
    ev_init(&cl->timer, curl_loop_timer_cb);
    cl->timer.data = cl;
    ev_timer_init(&cl->kick, curl_loop_kick_cb, 0., 0.);
    cl->kick.data = cl;
    cl->multi = curl_multi_init();
    if (!cl->multi) {
        if (!curl_loops)
            curl_global_cleanup();
        goto fail;
    }
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, curl_loop_socket_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, curl_loop_timer_set_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    cl->next = curl_loops;
    curl_loops = cl;
    *out = cl;
    return 0;
fail:
    trg_free(cl);
    return TRG_EIO;
}

void trg_curl_loop_release(struct trg_curl_loop *cl)
{
    if (!cl)
        return;
    if (--cl->refs > 0)
        return;
    if (cl->depth == 0)
        curl_loop_free(cl);
    /* else: freed by curl_loop_leave() when the running callback unwinds */
}

int trg_curl_loop_add(struct trg_curl_loop *cl, CURL *easy, trg_curl_done_cb cb, void *arg)
{
    struct xfer *x = trg_calloc(1, sizeof(*x));

    if (!x)
        return TRG_ENOMEM;
    x->easy = easy;
    x->cb = cb;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)x);
    if (cl->in_action > 0) {
        /* libcurl is running one of its callbacks and refuses curl_multi_add_handle() there */
        x->queued = true;
        if (!ev_is_active(&cl->kick))
            ev_timer_start(cl->loop, &cl->kick);
    } else {
        int err = xfer_start(cl, x);
        if (err < 0) {
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            trg_free(x);
            return err;
        }
    }
    x->next = cl->xfers;
    if (cl->xfers)
        cl->xfers->prev = x;
    cl->xfers = x;
    cl->active++;
    return 0;
}

void trg_curl_loop_remove(struct trg_curl_loop *cl, CURL *easy)
{
    char *priv = NULL;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    struct xfer *x = (struct xfer *)priv;
    if (!x || !x->queued)
        curl_multi_remove_handle(cl->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (!x)
        return;
    if (x->prev)
        x->prev->next = x->next;
    else
        cl->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    cl->active--;
    trg_free(x);
}

size_t trg_curl_loop_active(const struct trg_curl_loop *cl)
{
    return cl ? cl->active : 0;
}

/* ---- one POST request ------------------------------------------------------------------- */

struct trg_curl_post {
    struct trg_curl_loop *cl;
    CURL *easy;
    struct curl_slist *headers;
    size_t max_body;
    struct timespec start;
    trg_curl_post_cb cb;
    void *arg;
    struct trg_curl_resp resp;
    char *retry_after; /* raw header of the last response */
    char errbuf[CURL_ERROR_SIZE];
};

int64_t trg_curl_parse_retry_after(const char *value, int64_t now_wall_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!*value)
        return -1;
    if (isdigit((unsigned char)*value)) {
        char *end = NULL;
        long long secs = strtoll(value, &end, 10);
        while (end && (*end == ' ' || *end == '\t'))
            end++;
        if (end && *end == '\0' && secs >= 0 && secs <= INT64_MAX / 1000)
            return (int64_t)secs * 1000;
    }
    time_t t = curl_getdate(value, NULL);
    if (t < 0)
        return -1;
    if ((int64_t)t > INT64_MAX / 1000) /* a date in the year 292,000,000 and beyond: as far as delta-seconds go */
        t = (time_t)(INT64_MAX / 1000);
    int64_t ms = (int64_t)t * 1000 - (now_wall_ms > 0 ? now_wall_ms : 0);
    return ms > 0 ? ms : 0;
}

static size_t post_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct trg_curl_post *p = userdata;
    size_t n = size * nmemb;

    if (p->resp.body.len + n > p->max_body) {
        p->resp.body_too_large = true;
        return 0; /* aborts with CURLE_WRITE_ERROR */
    }
    if (trg_buf_add(&p->resp.body, ptr, n) != 0) {
        p->resp.nomem = true;
        return 0;
    }
    return n;
}

/* Copy a header's value (after "Name:"), trimmed, into a new string; NULL on failure. */
static char *header_value(const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return trg_strndup(v, n);
}

static bool header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

static void header_take(char **field, const char *line, size_t n, size_t name_len, struct trg_curl_post *p)
{
    trg_free(*field);
    *field = header_value(line + name_len + 1, n - name_len - 1);
    if (!*field)
        p->resp.nomem = true;
}

/* Every header line of every response (a 100 Continue, then the final one) comes here. */
static size_t post_header_cb(char *line, size_t size, size_t nitems, void *userdata)
{
    struct trg_curl_post *p = userdata;
    size_t n = size * nitems;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response starts: forget what an interim one said */
        trg_free(p->retry_after);
        trg_free(p->resp.function_error);
        p->retry_after = NULL;
        p->resp.function_error = NULL;
        p->resp.executed_version = false;
    } else if (header_is(line, n, "X-Amz-Executed-Version")) {
        p->resp.executed_version = true;
    } else if (header_is(line, n, "Retry-After")) {
        header_take(&p->retry_after, line, n, strlen("Retry-After"), p);
    } else if (header_is(line, n, "X-Amz-Function-Error")) {
        header_take(&p->resp.function_error, line, n, strlen("X-Amz-Function-Error"), p);
    }
    return n;
}

/* A finished post's easy handle goes back to its loop for the next post, if the loop is still open and
 * has room (a post may outlive its loop: it was cancelled when the loop closed). */
static void easy_put(struct trg_curl_loop *cl, CURL *easy)
{
    for (struct trg_curl_loop *c = curl_loops; c; c = c->next)
        if (c == cl && !cl->closing && cl->n_idle < (int)TRG_ARRAY_SIZE(cl->idle)) {
            curl_easy_reset(easy);
            cl->idle[cl->n_idle++] = easy;
            return;
        }
    curl_easy_cleanup(easy);
}

static void post_free(struct trg_curl_post *p)
{
    if (p->easy)
        easy_put(p->cl, p->easy);
    curl_slist_free_all(p->headers);
    trg_buf_free(&p->resp.body);
    trg_free(p->resp.content_type);
    trg_free(p->resp.function_error);
    trg_free(p->retry_after);
    trg_free(p);
}

static double elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1000.0 + (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void post_done(void *arg, CURL *easy, CURLcode code)
{
    struct trg_curl_post *p = arg;
    struct trg_curl_resp *r = &p->resp;
    long status = 0;
    char *ct = NULL;

    r->duration_ms = elapsed_ms(&p->start);
    r->code = code;
    r->error = p->errbuf[0] ? p->errbuf : (code != CURLE_OK ? curl_easy_strerror(code) : "");
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
        r->content_type = trg_strdup(ct);
        if (!r->content_type)
            r->nomem = true;
    }
    r->retry_after_ms = trg_curl_parse_retry_after(p->retry_after, trg_wall_ms());
    p->cb(p->arg, r);
    post_free(p);
}

int trg_curl_post_start(struct trg_curl_loop *cl, const struct trg_curl_post_req *req, trg_curl_post_cb cb,
                        void *arg, struct trg_curl_post **out)
{
    struct trg_curl_post *p = trg_calloc(1, sizeof(*p));
    int rc = TRG_ENOMEM;

    *out = NULL;
    if (!p) {
        curl_slist_free_all(req->headers);
        return TRG_ENOMEM;
    }
    p->headers = req->headers;
    p->cl = cl;
    p->cb = cb;
    p->arg = arg;
    p->max_body = req->max_body;
    p->resp.retry_after_ms = -1;
    p->easy = cl->n_idle > 0 ? cl->idle[--cl->n_idle] : curl_easy_init();
    if (!p->easy)
        goto fail;

    CURL *e = p->easy;
    CURLcode ok = CURLE_OK;
    ok |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    ok |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    ok |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    ok |= curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    ok |= curl_easy_setopt(e, CURLOPT_POST, 1L);
    ok |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->payload ? req->payload : "");
    ok |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    ok |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
    ok |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, post_write_cb);
    ok |= curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    ok |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, post_header_cb);
    ok |= curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
    ok |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    ok |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->timeout_ms > 0)
        ok |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->aws_sigv4) {
        ok |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, req->aws_sigv4);
        ok |= curl_easy_setopt(e, CURLOPT_USERPWD, req->userpwd);
    } else if (req->userpwd) {
        ok |= curl_easy_setopt(e, CURLOPT_USERPWD, req->userpwd);
    }
    if (ok != CURLE_OK) {
        char shown[512];
        trg_error("curl", NULL, "setting up a request to %s failed; is libcurl built with http and sigv4?",
                  trg_url_redact(req->url, shown, sizeof shown));
        rc = TRG_EIO;
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    rc = trg_curl_loop_add(cl, e, post_done, p);
    if (rc != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    post_free(p);
    return rc;
}

void trg_curl_post_cancel(struct trg_curl_post *p)
{
    if (!p)
        return;
    trg_curl_loop_remove(p->cl, p->easy);
    post_free(p);
}
