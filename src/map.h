/* map.h — a hash table of string keys with the nodes inside the objects it finds (intrusive chaining):
 * no allocation per entry, one bucket array that doubles as it fills. Used where a lookup by name would
 * otherwise walk a list of unbounded length (a route's ordering-key lanes).
 *
 * The map borrows each node and its key (the key must not change while the node is in the map).
 */
#ifndef TRG_MAP_H
#define TRG_MAP_H

#include <stddef.h>
#include <stdint.h>

struct trg_map_node {
    struct trg_map_node *next; /* in its bucket */
    const char *key;           /* set by the caller before trg_map_put(); borrowed */
    uint64_t hash;             /* set by trg_map_put() */
};

struct trg_map {
    struct trg_map_node **buckets;
    size_t n_buckets;          /* 0 or a power of two */
    size_t n;
};

#define TRG_MAP_INIT {NULL, 0, 0}

/* The node whose key equals key, or NULL. */
struct trg_map_node *trg_map_get(const struct trg_map *m, const char *key);
/* Add node (node->key set; no node of that key in the map). 0, or TRG_ENOMEM when the map has no buckets
 * yet and cannot get them; growing later never fails (a failed resize keeps the current buckets). */
int trg_map_put(struct trg_map *m, struct trg_map_node *node);
/* Take node (which is in the map) out of it. */
void trg_map_remove(struct trg_map *m, struct trg_map_node *node);
/* Free the bucket array (the nodes are the caller's); the map is empty and reusable. */
void trg_map_clear(struct trg_map *m);

#endif
