/* env.h — what the exec and runtime invokers share to start a process: its environment, built as a
 * NULL-terminated "NAME=value" vector, and the search for a program in a PATH.
 *
 * Private to src/invoke/. The vector is built before the child starts (the runtime forks and may
 * only make async-signal-safe calls there), so nothing here runs in a child.
 */
#ifndef TRG_INVOKE_ENV_H
#define TRG_INVOKE_ENV_H

#include <stddef.h>

/* An environment being built; start from {0}. v is NULL until the first entry, then NULL-terminated
 * (ready for execve/posix_spawn). */
struct trg_envv {
    char **v;
    size_t n, cap;
};

/* Free every entry and the vector; e is {0} again afterwards. */
void trg_envv_free(struct trg_envv *e);

/* Add entry ("NAME=value", taken over: freed on failure too), replacing an entry of the same NAME
 * in place. entry NULL (a failed allocation passed through) or no memory: TRG_ENOMEM. Else 0. */
int trg_envv_put(struct trg_envv *e, char *entry);

/* trg_envv_put of a new "NAME=value". 0 or TRG_ENOMEM. */
int trg_envv_set(struct trg_envv *e, const char *name, const char *value);

/* The value of NAME, pointing into e; NULL when NAME is not set. */
const char *trg_envv_get(const struct trg_envv *e, const char *name);

/* Search the bare program name prog (no slash) in path (':'-separated; an empty element is the
 * working directory, "."): the first candidate that is a regular file and executable. Returns it as a
 * new string, or NULL with errno ENOMEM, EACCES (a regular file matched but none was executable) or
 * ENOENT (nothing matched). path must not be NULL. */
char *trg_path_search(const char *prog, const char *path);

#endif
