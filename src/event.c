/* event.c — events handed over by sources. */
#include "event.h"

#include "util.h"

struct trg_event *trg_event_new(char *json, size_t len)
{
    struct trg_event *ev = trg_calloc(1, sizeof *ev);
    if (!ev) {
        trg_free(json);
        return NULL;
    }
    ev->json = json;
    ev->len = len;
    ev->created_ms = trg_wall_ms();
    return ev;
}

struct trg_event *trg_event_new_copy(const char *json, size_t len)
{
    char *copy = trg_strndup(json, len);
    return copy ? trg_event_new(copy, len) : NULL;
}

void trg_event_free(struct trg_event *ev)
{
    if (!ev)
        return;
    trg_free(ev->json);
    trg_free(ev->item_id);
    trg_free(ev->order_key);
    trg_free(ev);
}
