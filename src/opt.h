/* opt.h — option tables and the loader that applies them to a cJSON object.
 *
 * Every configurable knob is declared once, in a table of struct trg_opt next to the struct it
 * fills (librdkafka's property table). The loader applies defaults, checks types and ranges,
 * rejects unknown keys, and appends one "$.path.key: what is wrong" line per error to a
 * struct trg_errs, so a whole file is validated in one pass. docs/CONFIGURATION.md is generated
 * from the same tables (trg_opt_doc()).
 */
#ifndef TRG_OPT_H
#define TRG_OPT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum trg_opt_type {
    TRG_OPT_STRING,  /* char *            "text" */
    TRG_OPT_INT,     /* int64_t           integer within [min, max] */
    TRG_OPT_BOOL,    /* bool              true | false */
    TRG_OPT_ENUM,    /* int               index into choices[] */
    TRG_OPT_STRLIST, /* struct trg_strlist  ["a", "b"] */
    TRG_OPT_KVLIST,  /* struct trg_kvlist   {"name": "value"} (order kept) */
    TRG_OPT_JSON,    /* cJSON *           any JSON value, deep-copied */
    TRG_OPT_SECRET,  /* char *            read from NAME_env (an environment variable) or NAME_file;
                                           never inline: the key NAME itself is refused */
};

enum trg_opt_flags {
    TRG_OPT_REQUIRED = 1 << 0,
};

struct trg_opt {
    const char *name;
    enum trg_opt_type type;
    const char *def;            /* default as JSON text ("100", "\"text\"", "true"); NULL = none */
    int64_t min, max;           /* TRG_OPT_INT range, inclusive */
    const char *unit;           /* "ms", "s", "bytes", "events"; NULL = none */
    size_t offset;              /* offsetof() the field in the target struct */
    const char *desc;           /* one sentence for the docs */
    const char *const *choices; /* TRG_OPT_ENUM: NULL-terminated */
    unsigned flags;
};

/* Errors of a config load, in order. */
struct trg_errs {
    struct trg_strlist lines;
    bool lost;  /* an error could not be recorded (out of memory): the load failed all the same */
};
/* Append "$PATH: message" (path may be NULL). Allocation failures are swallowed: an error is an error. */
void trg_errs_add(struct trg_errs *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void trg_errs_free(struct trg_errs *e);

/* Apply the table to obj (may be NULL: defaults only) into base. path is the JSON path of obj
 * ("$.functions.thumb"). Keys listed in `extra` (NULL-terminated, may be NULL) are allowed and
 * left alone; every other key not in the table is an error. Returns the number of errors added.
 * Every field the table names is written (default or value), so base can be freed with
 * trg_opt_free() even after errors. */
int trg_opt_apply(const struct trg_opt *table, size_t n, void *base, const cJSON *obj,
                  const char *path, const char *const *extra, struct trg_errs *errs);

/* Free what trg_opt_apply() allocated in base (strings, lists, JSON). base itself is not freed. */
void trg_opt_free(const struct trg_opt *table, size_t n, void *base);

/* Append a Markdown table documenting the options to out. */
int trg_opt_doc(const struct trg_opt *table, size_t n, struct trg_buf *out);

#endif
