/* mqtt_backlog.c — the MQTT source's backlog: messages already read from the broker (and acknowledged to
 * it) when the routes filled up, or whose durable intake append failed, kept in order and emitted before
 * anything else is read once the engine says there is room again. */
#include <string.h>

#include "mqtt.h"

bool trg_mqtt_backlog_push(struct mqtt *m, struct trg_event *ev)
{
    if (m->n_backlog == m->cap_backlog) {
        size_t cap = m->cap_backlog ? 2 * m->cap_backlog : 16;
        struct trg_event **b = trg_realloc(m->backlog, cap * sizeof *b);
        if (!b)
            return false;
        m->backlog = b;
        m->cap_backlog = cap;
    }
    m->backlog[m->n_backlog++] = ev;
    return true;
}

/* Emit the backlog in order while the routes take it. */
static void backlog_flush(struct mqtt *m)
{
    size_t i = 0;

    while (i < m->n_backlog) {
        int err = trg_source_emit(m->src, m->backlog[i]);
        if (err == TRG_EFULL)
            break;
        if (err < 0) {
            m->lost++;
            trg_error("mqtt", m->name, "a message on %s was dropped (%s): trigd is stopping, and the broker "
                      "already had its acknowledgement", m->backlog[i]->order_key, trg_strerror(err));
            trg_event_free(m->backlog[i]);
        }
        i++;
    }
    if (i == 0)
        return; /* nothing taken (and the backlog may not even be allocated) */
    memmove(m->backlog, m->backlog + i, (m->n_backlog - i) * sizeof *m->backlog);
    m->n_backlog -= i;
    m->n_requeued = m->n_requeued > i ? m->n_requeued - i : 0;
}

void trg_mqtt_flush_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct mqtt *m = w->data;
    (void)revents;
    ev_idle_stop(loop, w);
    backlog_flush(m);
    if (m->n_backlog == 0)
        m->paused = !trg_source_can_accept(m->src);
    trg_mqtt_rearm(m);
}

void trg_mqtt_pause(void *inst, bool paused)
{
    struct mqtt *m = inst;

    /* An MQTT subscription cannot be paused: stop reading the socket instead (keepalives go on), so
     * the broker holds the QoS 1/2 messages. */
    m->paused = paused || m->n_backlog > 0;
    if (!paused && m->started)
        ev_idle_start(m->loop, &m->flush); /* emit the backlog from the loop, not from inside the engine */
    trg_mqtt_rearm(m);
}

void trg_mqtt_accepted(void *inst, struct trg_event *ev, int err)
{
    struct mqtt *m = inst;
    struct trg_event *copy;

    if (err >= 0)
        return;
    /* The durable intake could not store it (Redis went away with the XADD in flight): keep a copy at the
     * head of the backlog, in order, stop reading, and store it again once Redis is back. */
    copy = trg_event_new_copy(ev->json, ev->len);
    if (copy) {
        copy->created_ms = ev->created_ms;
        copy->no_intake = ev->no_intake;
        copy->item_id = ev->item_id ? trg_strdup(ev->item_id) : NULL;
        copy->order_key = ev->order_key ? trg_strdup(ev->order_key) : NULL;
    }
    if (copy && (!ev->item_id || copy->item_id) && (!ev->order_key || copy->order_key) && trg_mqtt_backlog_push(m, copy)) {
        memmove(m->backlog + m->n_requeued + 1, m->backlog + m->n_requeued,
                (m->n_backlog - 1 - m->n_requeued) * sizeof *m->backlog);
        m->backlog[m->n_requeued++] = copy;
        m->paused = true;
        trg_warn("mqtt", m->name, "a message on %s could not be stored (%s): kept, and stored again when Redis "
                 "is back (not reading meanwhile)", ev->order_key ? ev->order_key : "?", trg_strerror(err));
        trg_mqtt_rearm(m);
        return;
    }
    trg_event_free(copy);
    m->lost++;
    trg_error("mqtt", m->name, "a message on %s could not be stored (%s) and is lost: the broker already had "
              "its acknowledgement (%llu lost so far)", ev->order_key ? ev->order_key : "?", trg_strerror(err),
              (unsigned long long)m->lost);
}
