/* result.c — invocation outcomes and results (see invoke.h). */
#include "invoke.h"

#include "../util.h"

const char *trg_outcome_name(enum trg_outcome o)
{
    switch (o) {
    case TRG_OUT_SUCCESS:
        return "success";
    case TRG_OUT_PARTIAL:
        return "partial";
    case TRG_OUT_ERROR:
        return "error";
    case TRG_OUT_THROTTLED:
        return "throttled";
    case TRG_OUT_REJECTED:
        return "rejected";
    }
    return "unknown";
}

void trg_invoke_result_clear(struct trg_invoke_result *r)
{
    if (!r)
        return;
    trg_free(r->body);
    trg_free(r->content_type);
    trg_free(r->function_error);
    trg_free(r->log_tail);
    r->log_tail = NULL;
    r->log_tail_len = 0;
    r->body = NULL;
    r->body_len = 0;
    r->content_type = NULL;
    r->function_error = NULL;
}
