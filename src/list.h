/* list.h — an intrusive circular doubly linked list (the Linux kernel's shape, in 30 lines). */
#ifndef TRG_LIST_H
#define TRG_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct trg_list {
    struct trg_list *prev, *next;
};

static inline void trg_list_init(struct trg_list *h) { h->prev = h->next = h; }
static inline bool trg_list_empty(const struct trg_list *h) { return h->next == h; }
static inline bool trg_list_linked(const struct trg_list *n) { return n->next != NULL && n->next != n; }

static inline void trg_list_insert_after(struct trg_list *at, struct trg_list *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}
static inline void trg_list_push_back(struct trg_list *h, struct trg_list *n) { trg_list_insert_after(h->prev, n); }
static inline void trg_list_push_front(struct trg_list *h, struct trg_list *n) { trg_list_insert_after(h, n); }
static inline void trg_list_remove(struct trg_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define trg_list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define trg_list_first(h, type, member) (trg_list_empty(h) ? NULL : trg_list_entry((h)->next, type, member))
/* Safe against removal of the current node. */
#define trg_list_each(pos, tmp, h) for ((pos) = (h)->next, (tmp) = (pos)->next; (pos) != (h); (pos) = (tmp), (tmp) = (pos)->next)

#endif
