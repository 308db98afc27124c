/* post.c — one invocation POSTed for the http and lambda invokers, and its transport outcome.
 *
 * A call is unlinked from its instance before the invoker callback runs, so the callback may
 * destroy the instance (trg_post_close() then no longer sees the call); nothing of the instance is
 * touched after the callback returns.
 */
#include "post.h"

#include <stdio.h>

#include "../log.h"
#include "../util.h"

struct trg_post_call {
    struct trg_post *post;
    struct trg_curl_post *req;
    trg_invoke_cb cb;
    void *arg;
    char request_id[40];
    struct trg_post_call *prev, *next;
};

static void call_unlink(struct trg_post_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->post->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

bool trg_post_header_line(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = line ? curl_slist_append(*list, line) : NULL;

    if (!n) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    *list = n;
    return true;
}

bool trg_post_header(struct curl_slist **list, const char *name, const char *value)
{
    char *line = trg_asprintf("%s: %s", name, value);
    bool ok = trg_post_header_line(list, line);

    trg_free(line);
    return ok;
}

void trg_post_error(struct trg_invoke_result *res, const char *function_error)
{
    res->outcome = TRG_OUT_ERROR;
    res->function_error = trg_strdup(function_error);
}

void trg_post_reject_too_large(const char *component, const char *name, const char *request_id,
                               struct trg_invoke_result *res)
{
    res->outcome = TRG_OUT_REJECTED;
    res->function_error = trg_strdup("RequestTooLarge");
    trg_warn(component, name, "%s rejected: payload too large (HTTP 413)", request_id);
}

/* Classify a finished POST; takes the body and content type from resp. */
static void post_classify(struct trg_post_call *c, struct trg_curl_resp *resp, struct trg_invoke_result *res)
{
    const struct trg_post *post = c->post;
    const char *comp = post->kind->component;

    res->status = resp->status ? (int)resp->status : -1;
    res->duration_ms = resp->duration_ms;
    res->retry_after_ms = -1;
    res->body_len = resp->body.len;
    res->body = trg_buf_steal(&resp->body);
    res->content_type = resp->content_type;
    resp->content_type = NULL;

    if (resp->code == CURLE_OPERATION_TIMEDOUT) {
        trg_warn(comp, post->name, "%s timed out after %.0f ms; %s", c->request_id, resp->duration_ms,
                 post->kind->timeout_hint);
        trg_post_error(res, "Timeout");
    } else if (resp->body_too_large) {
        char limit[32] = "";
        if (post->kind->log_max_body)
            snprintf(limit, sizeof(limit), " (%lld)", (long long)post->max_body);
        trg_warn(comp, post->name, "%s response larger than max_response_bytes%s; failing the invocation",
                 c->request_id, limit);
        trg_post_error(res, "ResponseSizeTooLarge");
    } else if (resp->nomem) {
        trg_error(comp, post->name, "%s out of memory while receiving the response", c->request_id);
        trg_post_error(res, "OutOfMemory");
    } else if (resp->code != CURLE_OK) {
        char shown[512];
        trg_warn(comp, post->name, "%s POST %s failed: %s; %s", c->request_id,
                 trg_url_redact(post->url, shown, sizeof shown), resp->error, post->kind->failed_hint);
        trg_post_error(res, curl_easy_strerror(resp->code));
    } else {
        post->kind->classify(post->name, c->request_id, resp, res);
    }
}

static void post_call_done(void *arg, struct trg_curl_resp *resp)
{
    struct trg_post_call *c = arg;
    struct trg_invoke_result res = {0};

    /* Unlinked first: the callback may destroy the instance, which then no longer sees this call. */
    call_unlink(c);
    post_classify(c, resp, &res);
    trg_debug(c->post->kind->component, c->post->name, "%s %s status %d in %.2f ms", c->request_id,
              trg_outcome_name(res.outcome), res.status, res.duration_ms);
    c->cb(c->arg, &res);
    trg_invoke_result_clear(&res);
    trg_free(c);
}

int trg_post_open(struct trg_post *post, struct ev_loop *loop)
{
    post->calls = NULL;
    return trg_curl_loop_acquire(loop, &post->cl);
}

int trg_post_invoke(struct trg_post *post, const struct trg_invoke_req *req, trg_invoke_cb cb, void *arg)
{
    struct trg_post_call *c = trg_calloc(1, sizeof(*c));

    if (!c)
        return TRG_ENOMEM;
    c->post = post;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->request_id, sizeof(c->request_id), "%s", req->request_id ? req->request_id : "");

    struct trg_curl_post_req pr = {
        .url = post->url,
        .headers = post->kind->headers(post->ctx, c->request_id),
        .payload = req->payload,
        .len = req->len,
        .timeout_ms = req->timeout_ms,
        .max_body = post->max_body,
        .userpwd = post->userpwd,
        .aws_sigv4 = post->aws_sigv4,
    };
    if (!pr.headers) {
        trg_free(c);
        return TRG_ENOMEM;
    }
    int rc = trg_curl_post_start(post->cl, &pr, post_call_done, c, &c->req);
    if (rc != 0) {
        trg_free(c);
        return rc;
    }
    c->next = post->calls;
    if (post->calls)
        post->calls->prev = c;
    post->calls = c;
    return 0;
}

void trg_post_close(struct trg_post *post)
{
    while (post->calls) {
        struct trg_post_call *c = post->calls;
        call_unlink(c);
        trg_curl_post_cancel(c->req);
        trg_free(c);
    }
    trg_curl_loop_release(post->cl);
    post->cl = NULL;
}
