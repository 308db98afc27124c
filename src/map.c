/* map.c — intrusive string-keyed hash table (FNV-1a, chaining, power-of-two buckets). */
#include "map.h"

#include <string.h>

#include "util.h"

static uint64_t hash_key(const char *key)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

struct trg_map_node *trg_map_get(const struct trg_map *m, const char *key)
{
    if (m->n == 0)
        return NULL;
    uint64_t h = hash_key(key);
    for (struct trg_map_node *x = m->buckets[h & (m->n_buckets - 1)]; x; x = x->next)
        if (x->hash == h && strcmp(x->key, key) == 0)
            return x;
    return NULL;
}

/* Rehash into twice as many buckets; on ENOMEM the map stays as it is (longer chains, still correct). */
static void grow(struct trg_map *m)
{
    size_t n = m->n_buckets * 2;
    struct trg_map_node **b = trg_calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->n_buckets; i++)
        for (struct trg_map_node *x = m->buckets[i], *next; x; x = next) {
            next = x->next;
            x->next = b[x->hash & (n - 1)];
            b[x->hash & (n - 1)] = x;
        }
    trg_free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
}

int trg_map_put(struct trg_map *m, struct trg_map_node *node)
{
    if (!m->buckets) {
        if (!(m->buckets = trg_calloc(16, sizeof *m->buckets)))
            return TRG_ENOMEM;
        m->n_buckets = 16;
    }
    if (m->n >= m->n_buckets)
        grow(m);
    node->hash = hash_key(node->key);
    struct trg_map_node **b = &m->buckets[node->hash & (m->n_buckets - 1)];
    node->next = *b;
    *b = node;
    m->n++;
    return 0;
}

void trg_map_remove(struct trg_map *m, struct trg_map_node *node)
{
    for (struct trg_map_node **p = &m->buckets[node->hash & (m->n_buckets - 1)]; *p; p = &(*p)->next)
        if (*p == node) {
            *p = node->next;
            node->next = NULL;
            m->n--;
            return;
        }
}

void trg_map_clear(struct trg_map *m)
{
    trg_free(m->buckets);
    *m = (struct trg_map)TRG_MAP_INIT;
}
