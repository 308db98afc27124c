/* env.c — a child's environment vector and the search for a program in PATH (see env.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util.h"
#include "env.h"

void trg_envv_free(struct trg_envv *e)
{
    for (size_t i = 0; i < e->n; i++)
        trg_free(e->v[i]);
    trg_free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

int trg_envv_put(struct trg_envv *e, char *entry)
{
    if (!entry)
        return TRG_ENOMEM;
    size_t nl = strcspn(entry, "=");
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], entry, nl) == 0 && e->v[i][nl] == '=') {
            trg_free(e->v[i]);
            e->v[i] = entry;
            return 0;
        }
    }
    if (e->n + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        char **v = trg_realloc(e->v, cap * sizeof(*v));
        if (!v) {
            trg_free(entry);
            return TRG_ENOMEM;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = entry;
    e->v[e->n] = NULL;
    return 0;
}

int trg_envv_set(struct trg_envv *e, const char *name, const char *value)
{
    return trg_envv_put(e, trg_asprintf("%s=%s", name, value));
}

const char *trg_envv_get(const struct trg_envv *e, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], name, nl) == 0 && e->v[i][nl] == '=')
            return e->v[i] + nl + 1;
    }
    return NULL;
}

char *trg_path_search(const char *prog, const char *path)
{
    int err = ENOENT;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        char *cand = n ? trg_asprintf("%.*s/%s", (int)n, p, prog) : trg_asprintf("./%s", prog);
        if (!cand) {
            errno = ENOMEM;
            return NULL;
        }
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(cand, X_OK) == 0)
                return cand;
            err = EACCES;
        }
        trg_free(cand);
        if (!p[n])
            break;
        p += n + 1;
    }
    errno = err;
    return NULL;
}
