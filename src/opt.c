/* opt.c — apply option tables to cJSON objects; document them. */
#include "opt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void trg_errs_add(struct trg_errs *e, const char *path, const char *fmt, ...)
{
    struct trg_buf b = {0};
    if (path)
        trg_buf_addf(&b, "%s: ", path);
    va_list ap;
    va_start(ap, fmt);
    trg_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    if (!b.data) {
        e->lost = true;
        return;
    }
    char **v = trg_realloc(e->lines.v, (e->lines.n + 1) * sizeof *v);
    if (!v) {
        trg_buf_free(&b);
        e->lost = true;
        return;
    }
    e->lines.v = v;
    e->lines.v[e->lines.n++] = trg_buf_steal(&b);
}

void trg_errs_free(struct trg_errs *e) { trg_strlist_free(&e->lines); }

static void *field(void *base, const struct trg_opt *o) { return (char *)base + o->offset; }

static char *key_path(const char *path, const char *key)
{
    return trg_asprintf("%s.%s", path ? path : "$", key);
}

static const char *type_name(enum trg_opt_type t)
{
    switch (t) {
    case TRG_OPT_STRING: return "a string";
    case TRG_OPT_INT: return "an integer";
    case TRG_OPT_BOOL: return "true or false";
    case TRG_OPT_ENUM: return "one of the listed values";
    case TRG_OPT_STRLIST: return "an array of strings";
    case TRG_OPT_KVLIST: return "an object of strings";
    case TRG_OPT_JSON: return "any JSON value";
    case TRG_OPT_SECRET: return "a secret";
    }
    return "?";
}

static char *read_secret_file(const char *file, char **why)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        *why = trg_asprintf("cannot read %s: %s", file, strerror(errno));
        return NULL;
    }
    struct trg_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        trg_buf_add(&b, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno) {
        *why = trg_asprintf("cannot read %s: %s", file, strerror(read_errno));
        trg_buf_free(&b);
        return NULL;
    }
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
    if (!b.data)
        return trg_strdup("");
    return trg_buf_steal(&b);
}

/* A secret NAME comes from NAME_env or NAME_file; NAME itself is refused. */
static int apply_secret(const struct trg_opt *o, void *base, const cJSON *obj, const char *path,
                        struct trg_errs *errs)
{
    char **dst = field(base, o);
    *dst = NULL;
    char env_key[128], file_key[128];
    snprintf(env_key, sizeof env_key, "%s_env", o->name);
    snprintf(file_key, sizeof file_key, "%s_file", o->name);
    const cJSON *inl = obj ? cJSON_GetObjectItemCaseSensitive(obj, o->name) : NULL;
    const cJSON *env = obj ? cJSON_GetObjectItemCaseSensitive(obj, env_key) : NULL;
    const cJSON *file = obj ? cJSON_GetObjectItemCaseSensitive(obj, file_key) : NULL;
    int bad = 0;
    char *p;
    if (inl) {
        p = key_path(path, o->name);
        trg_errs_add(errs, p, "secrets are never written inline; use %s (an environment variable) or %s",
                     env_key, file_key);
        trg_free(p);
        bad++;
    }
    if (env && file) {
        p = key_path(path, file_key);
        trg_errs_add(errs, p, "set only one of %s and %s", env_key, file_key);
        trg_free(p);
        return bad + 1;
    }
    if (env) {
        p = key_path(path, env_key);
        if (!cJSON_IsString(env) || !env->valuestring[0]) {
            trg_errs_add(errs, p, "must be the name of an environment variable");
            bad++;
        } else {
            const char *v = getenv(env->valuestring);
            if (!v) {
                trg_errs_add(errs, p, "environment variable %s is not set", env->valuestring);
                bad++;
            } else {
                if (!(*dst = trg_strdup(v)))
                    errs->lost = true;
            }
        }
        trg_free(p);
    } else if (file) {
        p = key_path(path, file_key);
        if (!cJSON_IsString(file) || !file->valuestring[0]) {
            trg_errs_add(errs, p, "must be the path of a file holding the secret");
            bad++;
        } else {
            char *why = NULL;
            *dst = read_secret_file(file->valuestring, &why);
            if (!*dst) {
                trg_errs_add(errs, p, "%s", why ? why : "cannot read the file");
                bad++;
            }
            trg_free(why);
        }
        trg_free(p);
    } else if (o->flags & TRG_OPT_REQUIRED) {
        trg_errs_add(errs, path, "%s or %s is required", env_key, file_key);
        bad++;
    }
    return bad;
}

static int set_value(const struct trg_opt *o, void *base, const cJSON *v, const char *kp, struct trg_errs *errs)
{
    void *f = field(base, o);
    switch (o->type) {
    case TRG_OPT_STRING:
        if (!cJSON_IsString(v))
            goto wrong_type;
        *(char **)f = trg_strdup(v->valuestring);
        if (!*(char **)f)
            errs->lost = true;
        return 0;
    case TRG_OPT_INT: {
        if (!cJSON_IsNumber(v))
            goto wrong_type;
        double d = v->valuedouble;
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18) {
            trg_errs_add(errs, kp, "must be a whole number, not %g", d);
            return 1;
        }
        int64_t n = (int64_t)d;
        if (n < o->min || n > o->max) {
            trg_errs_add(errs, kp, "%lld is out of range: %lld to %lld%s%s", (long long)n, (long long)o->min,
                         (long long)o->max, o->unit ? " " : "", o->unit ? o->unit : "");
            return 1;
        }
        *(int64_t *)f = n;
        return 0;
    }
    case TRG_OPT_BOOL:
        if (!cJSON_IsBool(v))
            goto wrong_type;
        *(bool *)f = cJSON_IsTrue(v);
        return 0;
    case TRG_OPT_ENUM:
        if (cJSON_IsString(v)) {
            for (int i = 0; o->choices[i]; i++) {
                if (strcmp(o->choices[i], v->valuestring) == 0) {
                    *(int *)f = i;
                    return 0;
                }
            }
        }
        {
            struct trg_buf b = {0};
            for (int i = 0; o->choices[i]; i++)
                trg_buf_addf(&b, "%s\"%s\"", i ? ", " : "", o->choices[i]);
            trg_errs_add(errs, kp, "must be one of %s", b.data ? b.data : "");
            trg_buf_free(&b);
        }
        return 1;
    case TRG_OPT_STRLIST: {
        struct trg_strlist *l = f;
        if (!cJSON_IsArray(v))
            goto wrong_type;
        int bad = 0, n = cJSON_GetArraySize(v);
        l->v = trg_calloc((size_t)(n ? n : 1), sizeof *l->v);
        if (!l->v) {
            errs->lost = true;
            return 1;
        }
        int i = 0;
        for (const cJSON *it = v->child; it; it = it->next, i++) {
            if (!cJSON_IsString(it)) {
                trg_errs_add(errs, kp, "element %d must be a string", i);
                bad++;
                continue;
            }
            if (!(l->v[l->n] = trg_strdup(it->valuestring)))
                errs->lost = true;
            else
                l->n++;
        }
        return bad;
    }
    case TRG_OPT_KVLIST: {
        struct trg_kvlist *l = f;
        if (!cJSON_IsObject(v))
            goto wrong_type;
        int bad = 0, n = cJSON_GetArraySize(v);
        l->k = trg_calloc((size_t)(n ? n : 1), sizeof *l->k);
        l->v = trg_calloc((size_t)(n ? n : 1), sizeof *l->v);
        if (!l->k || !l->v) {
            errs->lost = true;
            return 1;
        }
        for (const cJSON *it = v->child; it; it = it->next) {
            if (!cJSON_IsString(it)) {
                trg_errs_add(errs, kp, "the value of \"%s\" must be a string", it->string);
                bad++;
                continue;
            }
            l->k[l->n] = trg_strdup(it->string);
            l->v[l->n] = trg_strdup(it->valuestring);
            if (!l->k[l->n] || !l->v[l->n]) {
                trg_free(l->k[l->n]);
                trg_free(l->v[l->n]);
                errs->lost = true;
                continue;
            }
            l->n++;
        }
        return bad;
    }
    case TRG_OPT_JSON:
        *(cJSON **)f = cJSON_Duplicate(v, 1);
        if (!*(cJSON **)f)
            errs->lost = true;
        return 0;
    case TRG_OPT_SECRET:
        return 0; /* handled by apply_secret */
    }
wrong_type:
    trg_errs_add(errs, kp, "must be %s", type_name(o->type));
    return 1;
}

static void zero_field(const struct trg_opt *o, void *base)
{
    void *f = field(base, o);
    switch (o->type) {
    case TRG_OPT_STRING:
    case TRG_OPT_SECRET: *(char **)f = NULL; break;
    case TRG_OPT_INT: *(int64_t *)f = 0; break;
    case TRG_OPT_BOOL: *(bool *)f = false; break;
    case TRG_OPT_ENUM: *(int *)f = 0; break;
    case TRG_OPT_STRLIST: memset(f, 0, sizeof(struct trg_strlist)); break;
    case TRG_OPT_KVLIST: memset(f, 0, sizeof(struct trg_kvlist)); break;
    case TRG_OPT_JSON: *(cJSON **)f = NULL; break;
    }
}

static bool secret_key(const struct trg_opt *table, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type != TRG_OPT_SECRET)
            continue;
        size_t l = strlen(table[i].name);
        if (strncmp(key, table[i].name, l) == 0 && (!strcmp(key + l, "_env") || !strcmp(key + l, "_file")))
            return true;
    }
    return false;
}

int trg_opt_apply(const struct trg_opt *table, size_t n, void *base, const cJSON *obj, const char *path,
                  const char *const *extra, struct trg_errs *errs)
{
    int bad = 0;
    if (obj && !cJSON_IsObject(obj)) {
        trg_errs_add(errs, path, "must be an object");
        obj = NULL;
        bad++;
    }
    for (size_t i = 0; i < n; i++) {
        const struct trg_opt *o = &table[i];
        zero_field(o, base);
        if (o->type == TRG_OPT_SECRET) {
            bad += apply_secret(o, base, obj, path, errs);
            continue;
        }
        const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, o->name) : NULL;
        char *kp = key_path(path, o->name);
        if (!v && o->def) {
            cJSON *d = cJSON_Parse(o->def);
            if (d)
                bad += set_value(o, base, d, kp, errs);
            else
                trg_errs_add(errs, kp, "internal error: bad default %s", o->def), bad++;
            cJSON_Delete(d);
        } else if (!v && (o->flags & TRG_OPT_REQUIRED)) {
            trg_errs_add(errs, kp, "is required");
            bad++;
        } else if (v) {
            bad += set_value(o, base, v, kp, errs);
        }
        trg_free(kp);
    }
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = table[i].type != TRG_OPT_SECRET && strcmp(table[i].name, it->string) == 0;
        for (size_t i = 0; extra && extra[i] && !known; i++)
            known = strcmp(extra[i], it->string) == 0;
        if (!known && secret_key(table, n, it->string))
            known = true;
        if (!known) {
            bool secret_inline = false;
            for (size_t i = 0; i < n; i++)
                secret_inline |= table[i].type == TRG_OPT_SECRET && !strcmp(table[i].name, it->string);
            if (secret_inline)
                continue; /* reported by apply_secret */
            char *kp = key_path(path, it->string);
            trg_errs_add(errs, kp, "unknown key");
            trg_free(kp);
            bad++;
        }
    }
    return bad;
}

void trg_opt_free(const struct trg_opt *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        void *f = field(base, &table[i]);
        switch (table[i].type) {
        case TRG_OPT_STRING:
        case TRG_OPT_SECRET:
            trg_free(*(char **)f);
            *(char **)f = NULL;
            break;
        case TRG_OPT_STRLIST: trg_strlist_free(f); break;
        case TRG_OPT_KVLIST: trg_kvlist_free(f); break;
        case TRG_OPT_JSON:
            cJSON_Delete(*(cJSON **)f);
            *(cJSON **)f = NULL;
            break;
        default: break;
        }
    }
}

int trg_opt_doc(const struct trg_opt *table, size_t n, struct trg_buf *out)
{
    int rc = trg_buf_adds(out, "| key | type | default | range | description |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct trg_opt *o = &table[i];
        struct trg_buf range = {0};
        if (o->type == TRG_OPT_INT)
            trg_buf_addf(&range, "%lld – %lld%s%s", (long long)o->min, (long long)o->max, o->unit ? " " : "",
                         o->unit ? o->unit : "");
        else if (o->type == TRG_OPT_ENUM)
            for (int c = 0; o->choices[c]; c++)
                trg_buf_addf(&range, "%s`%s`", c ? ", " : "", o->choices[c]);
        const char *types[] = {"string", "integer", "boolean", "enum", "string array", "object", "JSON",
                               "secret"};
        if (o->type == TRG_OPT_SECRET)
            rc |= trg_buf_addf(out, "| `%s_env` / `%s_file` ", o->name, o->name);
        else
            rc |= trg_buf_addf(out, "| `%s` ", o->name);
        rc |= trg_buf_addf(out, "| %s | %s%s%s | %s | %s |\n", types[o->type],
                           o->def ? "`" : (o->flags & TRG_OPT_REQUIRED ? "required" : "none"),
                           o->def ? o->def : "", o->def ? "`" : "", range.data ? range.data : "",
                           o->desc ? o->desc : "");
        trg_buf_free(&range);
    }
    return rc ? TRG_ENOMEM : 0;
}
