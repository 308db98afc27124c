/* filter.c — the EventBridge pattern language, compiled to an immutable tree and matched against a
 * parsed record without allocating.
 *
 * A pattern compiles to a tree as written: a node is a list of terms that must all match (AND); a
 * term is a field (a nested node, or a leaf list of matchers of which any must match) or a $or
 * group (a list of nodes). That tree owns every name and matcher. Matching does not walk it:
 * event-ruler's semantics for $or are those of expanding the pattern into alternatives, where a
 * field named again (in a $or branch, or after it) replaces the earlier one for that alternative.
 * So each pattern is also expanded into alternative trees without $or, which borrow the leaves of
 * the first tree; the pattern matches when any alternative does (alternatives that all start with
 * the same single field are merged into one tree with the OR inside it). docs/FILTERS.md has the
 * semantics and where they come from.
 */
#include "filter.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filter_fold.h"
#include "log.h"
#include "util.h"

enum m_kind {
    M_STR, /* exact string: strs[0] */
    M_NUM, /* exact number: num */
    M_TRUE,
    M_FALSE,
    M_NULL,
    M_PREFIX,       /* strs[0] */
    M_SUFFIX,       /* strs[0] */
    M_EIC,          /* equals-ignore-case: strs[0], folded */
    M_PREFIX_IC,    /* strs[0], folded */
    M_SUFFIX_IC,    /* strs[0], folded */
    M_WILDCARD,     /* wilds[0] */
    M_NUMERIC,      /* range */
    M_CIDR,         /* cidrs[0] */
    M_EXISTS,       /* exists (evaluated by the leaf, never by match_value) */
    M_NOT_STR,      /* anything-but strings: strs[n] */
    M_NOT_NUM,      /* anything-but numbers: nums[n] */
    M_NOT_PREFIX,   /* strs[n] */
    M_NOT_SUFFIX,   /* strs[n] */
    M_NOT_EIC,      /* strs[n], folded */
    M_NOT_WILDCARD, /* wilds[n] */
    M_NOT_CIDR,     /* cidrs[n] */
};

enum bound {
    B_NONE,
    B_INCL,
    B_EXCL
};

struct fstr {
    char *s;
    size_t len;
    size_t nchar; /* characters (UTF-8), for suffixes ignoring case */
};

/* An address block: the first bits of addr (4 bytes for IPv4, 16 for IPv6), host bits zero. */
struct cidr {
    unsigned char addr[16];
    unsigned char bits;
    bool v6;
};

/* A wildcard pattern split at its unescaped stars: seg[0] is anchored at the start, seg[nseg-1]
 * at the end; nseg == 1 means no star at all. */
struct wild {
    struct fstr *seg;
    size_t nseg;
    size_t minlen;
};

struct matcher {
    enum m_kind kind;
    size_t n;
    union {
        struct fstr *strs;
        double *nums;
        struct wild *wilds;
        struct cidr *cidrs;
        double num;
        bool exists;
        struct {
            double lo, hi;
            unsigned char lo_b, hi_b; /* enum bound */
        } range;
    } u;
};

struct node;

struct term {
    bool is_or;
    char *name;         /* field name; NULL for $or (borrowed in an alternative tree) */
    struct node *child; /* nested pattern object, or NULL for a leaf */
    struct matcher *m;  /* leaf: any must match */
    size_t nm;
    bool exists_true, exists_false;
    struct node **branch; /* $or: any must match */
    size_t nbranch;
    char **path; /* leaf of the written tree: its field names from the root, $or left out */
    size_t plen;
};

struct node {
    struct term *t;
    size_t n;
    bool borrowed; /* an alternative: names and matchers of its terms belong to the written tree */
};

struct pattern {
    struct node *tree; /* as written, owns the leaves */
    struct node **alt; /* alternatives without $or: any must match */
    size_t nalt;
};

struct trg_filter {
    struct pattern *pat;
    size_t n;
};

/* ---------------------------------------------------------------------------------------------
 * Case folding for equals-ignore-case: Unicode simple case folding (one code point to one code
 * point, src/filter_fold.h). A folded character may be longer or shorter in UTF-8 than the
 * original (U+023A Ⱥ folds to U+2C65 ⱥ, one byte longer; U+212A KELVIN SIGN to k), so
 * comparisons walk both strings character by character. */

static uint32_t fold_cp(uint32_t c)
{
    if (c < 0x80)
        return c - 'A' < 26u ? c + 32 : c;
    size_t lo = 0, hi = TRG_ARRAY_SIZE(trg_fold_ranges);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (trg_fold_ranges[mid].lo <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return c;
    const struct trg_fold_range *r = &trg_fold_ranges[lo - 1];
    if (c > r->hi || (c - r->lo) % r->step != 0)
        return c;
    return (uint32_t)((int64_t)c + r->delta);
}

/* Decode one character of s (n > 0 bytes left). A byte that does not start a well-formed sequence
 * decodes to a value outside Unicode that only equals the same byte. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        goto bad;
    }
    if (len > n)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        goto bad;
    *adv = len;
    return cp;
bad:
    *adv = 1;
    return 0x110000u + c;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length in bytes of s (len bytes) folded, and its number of characters into *nchar. */
static size_t fold_len(const char *s, size_t len, size_t *nchar)
{
    size_t i = 0, out = 0, n = 0;
    char tmp[4];
    while (i < len) {
        size_t adv;
        uint32_t cp = utf8_next((const unsigned char *)s + i, len - i, &adv);
        out += cp < 0x110000u ? utf8_put(fold_cp(cp), tmp) : 1;
        i += adv;
        n++;
    }
    *nchar = n;
    return out;
}

/* Write s (len bytes) folded into out, which holds fold_len() bytes and a NUL. */
static void fold_into(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        size_t adv;
        uint32_t cp = utf8_next((const unsigned char *)s + i, len - i, &adv);
        if (cp < 0x110000u)
            o += utf8_put(fold_cp(cp), out + o);
        else
            out[o++] = s[i];
        i += adv;
    }
    out[o] = '\0';
}

/* Compare a (alen bytes, any case) with the folded f (flen bytes) character by character, as far as
 * f goes. Returns the number of bytes of a that fold to f, or (size_t)-1 when they differ or a ends
 * first. */
static size_t fold_cmp(const char *a, size_t alen, const char *f, size_t flen)
{
    size_t i = 0, j = 0;
    while (j < flen) {
        if (i >= alen)
            return (size_t)-1;
        unsigned char ab = (unsigned char)a[i], fb = (unsigned char)f[j];
        if (ab < 0x80 && fb < 0x80) { /* the common case: ASCII on both sides */
            if (ab != fb && ((unsigned)(ab - 'A') >= 26u || ab + 32u != fb))
                return (size_t)-1;
            i++;
            j++;
            continue;
        }
        size_t aadv, fadv;
        uint32_t ac = utf8_next((const unsigned char *)a + i, alen - i, &aadv);
        uint32_t fc = utf8_next((const unsigned char *)f + j, flen - j, &fadv);
        if (ac != fc && (ac >= 0x110000u || fold_cp(ac) != fc))
            return (size_t)-1;
        i += aadv;
        j += fadv;
    }
    return i;
}

/* Does a (alen bytes) fold to the folded f (flen bytes)? */
static bool eq_fold(const char *a, size_t alen, const char *f, size_t flen)
{
    return fold_cmp(a, alen, f, flen) == alen;
}

/* Where the character that ends at i (> 0) in s starts, as utf8_next() would have split it. */
static size_t utf8_prev(const char *s, size_t i)
{
    for (size_t k = 1; k <= 4 && k <= i; k++) {
        unsigned char b = (unsigned char)s[i - k];
        if ((b & 0xC0) != 0x80) {
            size_t adv;
            utf8_next((const unsigned char *)s + i - k, k, &adv);
            return adv == k ? i - k : i - 1;
        }
    }
    return i - 1;
}

/* Does s end with something that folds to f (flen bytes, nchar characters)? Simple folding maps
 * one character to one, so the candidate is the last nchar characters of s. */
static bool suffix_fold(const char *s, size_t len, const char *f, size_t flen, size_t nchar)
{
    size_t start = len;
    for (size_t k = 0; k < nchar; k++) {
        if (start == 0)
            return false;
        start = (unsigned char)s[start - 1] < 0x80 ? start - 1 : utf8_prev(s, start);
    }
    return eq_fold(s + start, len - start, f, flen);
}

/* --------------------------------------------------------------------------------------------- */
/* Matching: no allocation below this line until the compiler. */

static bool wild_match(const struct wild *w, const char *s, size_t len)
{
    const struct fstr *first = &w->seg[0];
    if (w->nseg == 1)
        return len == first->len && memcmp(s, first->s, len) == 0;
    const struct fstr *last = &w->seg[w->nseg - 1];
    if (len < w->minlen || memcmp(s, first->s, first->len) != 0 ||
        memcmp(s + len - last->len, last->s, last->len) != 0)
        return false;
    size_t pos = first->len, end = len - last->len;
    for (size_t i = 1; i + 1 < w->nseg; i++) {
        const struct fstr *seg = &w->seg[i];
        const char *hit = memmem(s + pos, end - pos, seg->s, seg->len);
        if (!hit)
            return false;
        pos = (size_t)(hit - s) + seg->len;
    }
    return true;
}

static bool in_range(const struct matcher *m, double d)
{
    if (m->u.range.lo_b == B_INCL   ? !(d >= m->u.range.lo)
        : m->u.range.lo_b == B_EXCL ? !(d > m->u.range.lo)
                                    : false)
        return false;
    if (m->u.range.hi_b == B_INCL   ? !(d <= m->u.range.hi)
        : m->u.range.hi_b == B_EXCL ? !(d < m->u.range.hi)
                                    : false)
        return false;
    return true;
}

static bool has_prefix(const char *s, size_t len, const struct fstr *p)
{
    return len >= p->len && memcmp(s, p->s, p->len) == 0;
}

static bool has_suffix(const char *s, size_t len, const struct fstr *p)
{
    return len >= p->len && memcmp(s + len - p->len, p->s, p->len) == 0;
}

/* Parse s (len bytes) as an IPv4 (dotted quad) or IPv6 address into addr; false when it is not
 * one. Allocates nothing. */
static bool ip_parse(const char *s, size_t len, unsigned char addr[16], bool *v6)
{
    char buf[INET6_ADDRSTRLEN];
    if (len < 2 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *v6 = memchr(buf, ':', len) != NULL;
    return inet_pton(*v6 ? AF_INET6 : AF_INET, buf, addr) == 1;
}

static bool cidr_contains(const struct cidr *c, const unsigned char addr[16], bool v6)
{
    if (c->v6 != v6)
        return false;
    size_t full = c->bits / 8u;
    unsigned rest = c->bits % 8u;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    return rest == 0 || ((c->addr[full] ^ addr[full]) & (0xFFu << (8 - rest)) & 0xFFu) == 0;
}

/* Is the string an address inside one of the matcher's blocks? */
static bool cidr_any(const struct matcher *m, const char *s, size_t len)
{
    unsigned char addr[16];
    bool v6;
    if (!ip_parse(s, len, addr, &v6))
        return false;
    for (size_t i = 0; i < m->n; i++)
        if (cidr_contains(&m->u.cidrs[i], addr, v6))
            return true;
    return false;
}

/* Does one leaf value (string, number, boolean or null) satisfy one matcher? */
static bool match_value(const struct matcher *m, const cJSON *v, const char *s, size_t len)
{
    bool is_str = s != NULL;
    switch (m->kind) {
    case M_STR:
        return is_str && len == m->u.strs[0].len && memcmp(s, m->u.strs[0].s, len) == 0;
    case M_NUM:
        return cJSON_IsNumber(v) && v->valuedouble == m->u.num;
    case M_TRUE:
        return cJSON_IsTrue(v);
    case M_FALSE:
        return cJSON_IsFalse(v);
    case M_NULL:
        return cJSON_IsNull(v);
    case M_PREFIX:
        return is_str && has_prefix(s, len, &m->u.strs[0]);
    case M_SUFFIX:
        return is_str && has_suffix(s, len, &m->u.strs[0]);
    case M_EIC:
        return is_str && eq_fold(s, len, m->u.strs[0].s, m->u.strs[0].len);
    case M_PREFIX_IC:
        return is_str && fold_cmp(s, len, m->u.strs[0].s, m->u.strs[0].len) != (size_t)-1;
    case M_SUFFIX_IC:
        return is_str && suffix_fold(s, len, m->u.strs[0].s, m->u.strs[0].len, m->u.strs[0].nchar);
    case M_WILDCARD:
        return is_str && wild_match(&m->u.wilds[0], s, len);
    case M_NUMERIC:
        return cJSON_IsNumber(v) && in_range(m, v->valuedouble);
    case M_CIDR:
        return is_str && cidr_any(m, s, len);
    case M_EXISTS:
        return false;
    case M_NOT_STR:
        if (is_str)
            for (size_t i = 0; i < m->n; i++)
                if (len == m->u.strs[i].len && memcmp(s, m->u.strs[i].s, len) == 0)
                    return false;
        return true;
    case M_NOT_NUM:
        if (cJSON_IsNumber(v))
            for (size_t i = 0; i < m->n; i++)
                if (v->valuedouble == m->u.nums[i])
                    return false;
        return true;
    case M_NOT_PREFIX:
        if (is_str)
            for (size_t i = 0; i < m->n; i++)
                if (has_prefix(s, len, &m->u.strs[i]))
                    return false;
        return true;
    case M_NOT_SUFFIX:
        if (is_str)
            for (size_t i = 0; i < m->n; i++)
                if (has_suffix(s, len, &m->u.strs[i]))
                    return false;
        return true;
    case M_NOT_CIDR:
        return !(is_str && cidr_any(m, s, len));
    case M_NOT_EIC:
        if (is_str)
            for (size_t i = 0; i < m->n; i++)
                if (eq_fold(s, len, m->u.strs[i].s, m->u.strs[i].len))
                    return false;
        return true;
    case M_NOT_WILDCARD:
        if (is_str)
            for (size_t i = 0; i < m->n; i++)
                if (wild_match(&m->u.wilds[i], s, len))
                    return false;
        return true;
    }
    return false;
}

static bool is_leaf(const cJSON *v)
{
    return cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsNull(v);
}

/* 1: a leaf value matched; 0: there were leaf values, none matched; -1: no leaf value at all. */
static int leaf_scan(const struct term *t, const cJSON *v, int adepth)
{
    if (cJSON_IsArray(v)) {
        int seen = -1;
        if (adepth >= TRG_FILTER_MAX_ARRAY_DEPTH)
            return -1;
        for (const cJSON *e = v->child; e; e = e->next) {
            int r = leaf_scan(t, e, adepth + 1);
            if (r == 1)
                return 1;
            if (r == 0)
                seen = 0;
        }
        return seen;
    }
    if (!is_leaf(v))
        return -1;
    if (t->exists_true)
        return 1;
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t len = s ? strlen(s) : 0;
    for (size_t i = 0; i < t->nm; i++)
        if (match_value(&t->m[i], v, s, len))
            return 1;
    return 0;
}

/* Explanation context: only trg_filter_explain() passes one. */
struct xctx {
    char path[256];
    size_t plen;
    bool failed;
    char why[384];
};

static bool node_match(const struct node *nd, const cJSON *obj, struct xctx *x);

/* 1: an object element matched; 0: object elements, none matched; -1: no object element. */
static int child_scan(const struct node *nd, const cJSON *v, int adepth, struct xctx *x)
{
    if (cJSON_IsObject(v))
        return node_match(nd, v, x) ? 1 : 0;
    if (!cJSON_IsArray(v) || adepth >= TRG_FILTER_MAX_ARRAY_DEPTH)
        return -1;
    int seen = -1;
    for (const cJSON *e = v->child; e; e = e->next) {
        int r = child_scan(nd, e, adepth + 1, x);
        if (r == 1)
            return 1;
        if (r == 0)
            seen = 0;
    }
    return seen;
}

static bool child_match(const struct node *nd, const cJSON *v, struct xctx *x)
{
    int r = v ? child_scan(nd, v, 0, x) : -1;
    bool ok = r == -1 ? node_match(nd, NULL, x) : r == 1;
    if (ok && x)
        x->failed = false; /* an element that failed before the one that matched explains nothing */
    return ok;
}

/* Explanations (not on the hot path: only reached with x != NULL). */

static void x_push(struct xctx *x, const char *name, size_t *saved)
{
    *saved = x->plen;
    int n = snprintf(x->path + x->plen, sizeof x->path - x->plen, "%s%s", x->plen ? "." : "", name);
    if (n > 0)
        x->plen = x->plen + (size_t)n < sizeof x->path ? x->plen + (size_t)n : sizeof x->path - 1;
}

static void x_pop(struct xctx *x, size_t saved)
{
    x->plen = saved;
    x->path[saved] = '\0';
}

static void x_describe(const cJSON *v, char *out, size_t n)
{
    if (cJSON_IsString(v) && v->valuestring) {
        size_t len = strlen(v->valuestring);
        if (len > 40)
            snprintf(out, n, "\"%.40s...\"", v->valuestring);
        else
            snprintf(out, n, "\"%s\"", v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        snprintf(out, n, "%.17g", v->valuedouble);
    } else if (cJSON_IsTrue(v)) {
        snprintf(out, n, "true");
    } else if (cJSON_IsFalse(v)) {
        snprintf(out, n, "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(out, n, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(out, n, "an array");
    } else {
        snprintf(out, n, "an object");
    }
}

static void x_leaf_fail(struct xctx *x, const struct term *t, const cJSON *v)
{
    char val[64];
    const char *field = x->plen ? x->path : "(record)";
    if (x->failed)
        return;
    x->failed = true;
    if (!v)
        snprintf(x->why, sizeof x->why, "%s: missing", field);
    else if (cJSON_IsObject(v))
        snprintf(x->why, sizeof x->why, "%s: is an object, not a value", field);
    else if (leaf_scan(t, v, 0) == -1)
        snprintf(x->why, sizeof x->why, "%s: is an array without values", field);
    else if (t->exists_false && t->nm == 1)
        snprintf(x->why, sizeof x->why, "%s: exists, but the pattern wants it absent", field);
    else if (cJSON_IsArray(v))
        snprintf(x->why, sizeof x->why, "%s: no element of the array matches", field);
    else {
        x_describe(v, val, sizeof val);
        snprintf(x->why, sizeof x->why, "%s: %s matches none of the allowed values", field, val);
    }
}

static bool node_match(const struct node *nd, const cJSON *obj, struct xctx *x)
{
    for (size_t i = 0; i < nd->n; i++) {
        const struct term *t = &nd->t[i];
        bool ok;
        if (t->is_or) { /* only where alt_or() moved alternatives inside a field */
            ok = false;
            for (size_t b = 0; b < t->nbranch && !ok; b++)
                ok = node_match(t->branch[b], obj, x);
            if (x && ok) {
                x->failed = false;
            } else if (x && !ok) {
                char inner[sizeof x->why];
                memcpy(inner, x->why, sizeof inner);
                snprintf(x->why, sizeof x->why, "no $or branch matches (first: %.320s)", inner);
            }
            if (!ok)
                return false;
            continue;
        }
        const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, t->name) : NULL;
        size_t saved = 0;
        if (x)
            x_push(x, t->name, &saved);
        if (t->child) {
            ok = child_match(t->child, v, x);
        } else {
            int r = v ? leaf_scan(t, v, 0) : -1;
            ok = r == 1 || (r == -1 && t->exists_false);
            if (!ok && x)
                x_leaf_fail(x, t, v);
        }
        if (x)
            x_pop(x, saved);
        if (!ok)
            return false;
    }
    return true;
}

static bool root_match(const struct node *nd, const cJSON *record, struct xctx *x)
{
    return child_match(nd, record, x);
}

bool trg_filter_match(const struct trg_filter *f, const cJSON *record)
{
    if (!f || f->n == 0)
        return true;
    for (size_t i = 0; i < f->n; i++)
        for (size_t a = 0; a < f->pat[i].nalt; a++)
            if (root_match(f->pat[i].alt[a], record, NULL))
                return true;
    return false;
}

bool trg_filter_explain(const struct trg_filter *f, const cJSON *record, char *why, size_t why_len)
{
    size_t used = 0;
    if (why && why_len)
        why[0] = '\0';
    if (!f || f->n == 0)
        return true;
    for (size_t i = 0; i < f->n; i++) {
        const struct pattern *p = &f->pat[i];
        struct xctx x;
        char first[sizeof x.why] = "does not match";
        for (size_t a = 0; a < p->nalt; a++) {
            x.plen = 0;
            x.path[0] = '\0';
            x.failed = false;
            x.why[0] = '\0';
            if (root_match(p->alt[a], record, &x)) {
                if (why && why_len)
                    why[0] = '\0';
                return true;
            }
            if (a == 0 && x.failed)
                memcpy(first, x.why, sizeof first);
        }
        if (why && used + 1 < why_len) {
            int n = p->nalt > 1 ? snprintf(why + used, why_len - used,
                                           "%spattern %zu: no $or branch matches "
                                           "(first: %.320s)",
                                           used ? "; " : "", i, first)
                                : snprintf(why + used, why_len - used, "%spattern %zu: %s", used ? "; " : "",
                                           i, first);
            if (n > 0)
                used = used + (size_t)n < why_len ? used + (size_t)n : why_len - 1;
        }
    }
    return false;
}

size_t trg_filter_count(const struct trg_filter *f) { return f ? f->n : 0; }

/* --------------------------------------------------------------------------------------------- */
/* Freeing */

static void wild_free(struct wild *w)
{
    if (!w->seg)
        return;
    for (size_t i = 0; i < w->nseg; i++)
        trg_free(w->seg[i].s);
    trg_free(w->seg);
}

static void matcher_free(struct matcher *m)
{
    switch (m->kind) {
    case M_STR:
    case M_PREFIX:
    case M_SUFFIX:
    case M_EIC:
    case M_PREFIX_IC:
    case M_SUFFIX_IC:
    case M_NOT_STR:
    case M_NOT_PREFIX:
    case M_NOT_SUFFIX:
    case M_NOT_EIC:
        if (m->u.strs)
            for (size_t i = 0; i < m->n; i++)
                trg_free(m->u.strs[i].s);
        trg_free(m->u.strs);
        break;
    case M_WILDCARD:
    case M_NOT_WILDCARD:
        if (m->u.wilds)
            for (size_t i = 0; i < m->n; i++)
                wild_free(&m->u.wilds[i]);
        trg_free(m->u.wilds);
        break;
    case M_NOT_NUM:
        trg_free(m->u.nums);
        break;
    case M_CIDR:
    case M_NOT_CIDR:
        trg_free(m->u.cidrs);
        break;
    default:
        break;
    }
}

static void node_free(struct node *nd)
{
    if (!nd)
        return;
    for (size_t i = 0; i < nd->n; i++) {
        struct term *t = &nd->t[i];
        node_free(t->child);
        if (t->branch)
            for (size_t b = 0; b < t->nbranch; b++)
                node_free(t->branch[b]);
        trg_free(t->branch);
        if (nd->borrowed)
            continue;
        trg_free(t->name);
        if (t->m)
            for (size_t j = 0; j < t->nm; j++)
                matcher_free(&t->m[j]);
        trg_free(t->m);
        trg_free(t->path);
    }
    trg_free(nd->t);
    trg_free(nd);
}

static void pattern_free(struct pattern *p)
{
    if (p->alt)
        for (size_t a = 0; a < p->nalt; a++)
            node_free(p->alt[a]);
    trg_free(p->alt);
    node_free(p->tree);
}

void trg_filter_free(struct trg_filter *f)
{
    if (!f)
        return;
    if (f->pat)
        for (size_t i = 0; i < f->n; i++)
            pattern_free(&f->pat[i]);
    trg_free(f->pat);
    trg_free(f);
}

/* --------------------------------------------------------------------------------------------- */
/* Compiling */

struct cctx {
    struct trg_errs *errs;
    struct trg_buf path;
    int nerr;
    bool oom;
};

static void cerr(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cerr(struct cctx *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->nerr++;
    if (c->errs)
        trg_errs_add(c->errs, c->path.data ? c->path.data : "$", "%s", msg);
}

static void c_oom(struct cctx *c)
{
    if (!c->oom)
        cerr(c, "out of memory compiling the pattern");
    c->oom = true;
}

static bool plain_key(const char *k)
{
    if (!*k)
        return false;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '$' || *p == '@'))
            return false;
    return true;
}

/* Append ".key" or ["key"] to the path; returns the length to go back to. */
static size_t path_key(struct cctx *c, const char *k)
{
    size_t saved = c->path.len;
    int rc = plain_key(k) ? trg_buf_addf(&c->path, ".%s", k) : 0;
    if (!plain_key(k))
        rc = trg_buf_addc(&c->path, '[') || trg_buf_add_json_str(&c->path, k, strlen(k)) ||
             trg_buf_addc(&c->path, ']');
    if (rc)
        c_oom(c);
    return saved;
}

static size_t path_index(struct cctx *c, size_t i)
{
    size_t saved = c->path.len;
    if (trg_buf_addf(&c->path, "[%zu]", i))
        c_oom(c);
    return saved;
}

static void path_back(struct cctx *c, size_t saved)
{
    if (c->path.data && saved <= c->path.len) {
        c->path.len = saved;
        c->path.data[saved] = '\0';
    }
}

static int fstr_set(struct cctx *c, struct fstr *f, const char *s, bool fold)
{
    size_t len = strlen(s);
    f->len = fold ? fold_len(s, len, &f->nchar) : len;
    f->s = trg_malloc(f->len + 1);
    if (!f->s) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    if (fold)
        fold_into(s, len, f->s);
    else
        memcpy(f->s, s, len + 1);
    return 0;
}

/* One string into m->u.strs[0]. */
static int m_str1(struct cctx *c, struct matcher *m, enum m_kind kind, const char *s, bool fold)
{
    m->kind = kind;
    m->u.strs = trg_calloc(1, sizeof *m->u.strs);
    if (!m->u.strs) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    m->n = 1;
    return fstr_set(c, &m->u.strs[0], s, fold);
}

static int wild_compile(struct cctx *c, struct wild *w, const char *s)
{
    size_t len = strlen(s), stars = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\') {
            if (i + 1 >= len || (s[i + 1] != '*' && s[i + 1] != '\\')) {
                cerr(c, "wildcard: a backslash escapes only * or \\ (write \\\\ for a backslash)");
                return TRG_EINVAL;
            }
            i++;
        } else if (s[i] == '*') {
            if (i + 1 < len && s[i + 1] == '*') {
                cerr(c, "wildcard: consecutive * are not allowed");
                return TRG_EINVAL;
            }
            stars++;
        }
    }
    w->seg = trg_calloc(stars + 1, sizeof *w->seg);
    if (!w->seg) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    w->nseg = stars + 1;
    size_t k = 0;
    for (size_t i = 0; k < w->nseg; k++) {
        char *out = trg_malloc(len + 1);
        size_t o = 0;
        if (!out) {
            c_oom(c);
            return TRG_ENOMEM;
        }
        while (i < len && s[i] != '*') {
            if (s[i] == '\\')
                i++;
            out[o++] = s[i++];
        }
        i++; /* past the star (or the end) */
        out[o] = '\0';
        w->seg[k].s = out;
        w->seg[k].len = o;
        w->minlen += o;
    }
    return 0;
}

static bool finite_num(struct cctx *c, const cJSON *v, const char *what)
{
    if (!isfinite(v->valuedouble)) {
        cerr(c, "%s: number out of range", what);
        return false;
    }
    return true;
}

static const char numeric_usage[] = "numeric expects operator/number pairs such as [\">\", 0, \"<=\", 5] "
                                    "(operators =, <, <=, >, >=)";

static int numeric_compile(struct cctx *c, struct matcher *m, const cJSON *v)
{
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    m->kind = M_NUMERIC;
    m->u.range.lo_b = m->u.range.hi_b = B_NONE;
    if (n != 2 && n != 4) {
        cerr(c, "%s", numeric_usage);
        return TRG_EINVAL;
    }
    bool eq = false;
    for (const cJSON *op = v->child; op; op = op->next->next) {
        const cJSON *num = op->next;
        if (!cJSON_IsString(op) || !cJSON_IsNumber(num)) {
            cerr(c, "%s", numeric_usage);
            return TRG_EINVAL;
        }
        if (!finite_num(c, num, "numeric"))
            return TRG_EINVAL;
        const char *o = op->valuestring;
        double d = num->valuedouble;
        if (!strcmp(o, "=")) {
            if (n != 2) {
                cerr(c, "numeric: \"=\" stands alone, as in [\"=\", 5]");
                return TRG_EINVAL;
            }
            eq = true;
            m->u.range.lo = m->u.range.hi = d;
            m->u.range.lo_b = m->u.range.hi_b = B_INCL;
        } else if (!strcmp(o, ">") || !strcmp(o, ">=")) {
            if (m->u.range.lo_b != B_NONE) {
                cerr(c, "numeric: two lower bounds; a range is one of > >= and one of < <=");
                return TRG_EINVAL;
            }
            m->u.range.lo = d;
            m->u.range.lo_b = o[1] ? B_INCL : B_EXCL;
        } else if (!strcmp(o, "<") || !strcmp(o, "<=")) {
            if (m->u.range.hi_b != B_NONE) {
                cerr(c, "numeric: two upper bounds; a range is one of > >= and one of < <=");
                return TRG_EINVAL;
            }
            m->u.range.hi = d;
            m->u.range.hi_b = o[1] ? B_INCL : B_EXCL;
        } else {
            cerr(c, "numeric: unknown operator \"%s\" (use =, <, <=, >, >=)", o);
            return TRG_EINVAL;
        }
    }
    if (!eq && m->u.range.lo_b != B_NONE && m->u.range.hi_b != B_NONE &&
        (m->u.range.lo > m->u.range.hi ||
         (m->u.range.lo == m->u.range.hi && (m->u.range.lo_b == B_EXCL || m->u.range.hi_b == B_EXCL)))) {
        cerr(c, "numeric: the range is empty (lower bound %g above upper bound %g)", m->u.range.lo,
             m->u.range.hi);
        return TRG_EINVAL;
    }
    return 0;
}

/* How many strings v gives: 1 for a string, the length of a non-empty list of strings; 0 (the usage
 * error reported) for anything else. */
static size_t strings_count(struct cctx *c, const cJSON *v, const char *usage)
{
    int n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n > 0 && cJSON_IsArray(v))
        for (const cJSON *e = v->child; e; e = e->next)
            if (!cJSON_IsString(e))
                n = 0;
    if (n <= 0)
        cerr(c, "%s", usage);
    return n > 0 ? (size_t)n : 0;
}

/* A string, or a non-empty list of strings, into m->u.strs (anything-but equals-ignore-case). */
static int strlist_compile(struct cctx *c, struct matcher *m, const cJSON *v, bool fold, const char *usage)
{
    if (cJSON_IsString(v))
        return m_str1(c, m, m->kind, v->valuestring, fold);
    size_t n = strings_count(c, v, usage);
    if (!n)
        return TRG_EINVAL;
    m->u.strs = trg_calloc(n, sizeof *m->u.strs);
    if (!m->u.strs) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    m->n = n;
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++)
        if (fstr_set(c, &m->u.strs[i], e->valuestring, fold))
            return TRG_ENOMEM;
    return 0;
}

static int wildlist_compile(struct cctx *c, struct matcher *m, const cJSON *v, const char *usage)
{
    size_t n = strings_count(c, v, usage);
    if (!n)
        return TRG_EINVAL;
    m->u.wilds = trg_calloc(n, sizeof *m->u.wilds);
    if (!m->u.wilds) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    m->n = n;
    if (cJSON_IsString(v))
        return wild_compile(c, &m->u.wilds[0], v->valuestring);
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int rc = wild_compile(c, &m->u.wilds[i], e->valuestring);
        if (rc)
            return rc;
    }
    return 0;
}

/* One "address/prefix-length" block, host bits cleared. */
static int cidr_parse(struct cctx *c, struct cidr *out, const char *s, const char *what)
{
    const char *slash = strchr(s, '/');
    unsigned char addr[16];
    bool v6;
    if (!slash || strchr(slash + 1, '/') || !ip_parse(s, (size_t)(slash - s), addr, &v6)) {
        cerr(c, "%s: \"%.60s\" is not an address block such as \"10.0.0.0/24\" or \"2001:db8::/32\"", what,
             s);
        return TRG_EINVAL;
    }
    unsigned max = v6 ? 128 : 32, bits = 0;
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3)
        bits = max + 1;
    for (; *p && bits <= max; p++)
        bits = *p >= '0' && *p <= '9' ? bits * 10 + (unsigned)(*p - '0') : max + 1;
    if (bits > max) {
        cerr(c, "%s: \"%.60s\": the prefix length after / is a number from 0 to %u for %s", what, s, max,
             v6 ? "IPv6" : "IPv4");
        return TRG_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->bits = (unsigned char)bits;
    out->v6 = v6;
    size_t full = bits / 8u;
    memcpy(out->addr, addr, full);
    if (bits % 8u)
        out->addr[full] = (unsigned char)(addr[full] & (0xFFu << (8 - bits % 8u)));
    return 0;
}

/* cidr: a string; inside anything-but, a string or a non-empty list of strings. */
static int cidrlist_compile(struct cctx *c, struct matcher *m, const cJSON *v, const char *what,
                            const char *usage)
{
    size_t n = strings_count(c, v, usage);
    if (!n)
        return TRG_EINVAL;
    m->u.cidrs = trg_calloc(n, sizeof *m->u.cidrs);
    if (!m->u.cidrs) {
        c_oom(c);
        return TRG_ENOMEM;
    }
    m->n = n;
    if (cJSON_IsString(v))
        return cidr_parse(c, &m->u.cidrs[0], v->valuestring, what);
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        int rc = cidr_parse(c, &m->u.cidrs[i], e->valuestring, what);
        if (rc)
            return rc;
    }
    return 0;
}

static const char anything_but_usage[] =
    "anything-but expects a string, a number, a list of only strings or only numbers, or an object "
    "with one of prefix, suffix, equals-ignore-case, wildcard, cidr";

/* anything-but {"prefix"|"suffix": s or [s, ...]}: no empty string, it would exclude every string. */
static int affixlist_compile(struct cctx *c, struct matcher *m, const cJSON *v, const char *op)
{
    char usage[128];
    snprintf(usage, sizeof usage, "anything-but %s expects a string or a non-empty list of strings", op);
    int rc = strlist_compile(c, m, v, false, usage);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n; i++)
        if (m->u.strs[i].len == 0) {
            cerr(c, "anything-but %s: an empty %s would exclude every string", op, op);
            return TRG_EINVAL;
        }
    return 0;
}

static int anything_but_compile(struct cctx *c, struct matcher *m, const cJSON *v)
{
    if (cJSON_IsString(v))
        return m_str1(c, m, M_NOT_STR, v->valuestring, false);
    if (cJSON_IsNumber(v)) {
        if (!finite_num(c, v, "anything-but"))
            return TRG_EINVAL;
        m->kind = M_NOT_NUM;
        m->u.nums = trg_malloc(sizeof *m->u.nums);
        if (!m->u.nums) {
            c_oom(c);
            return TRG_ENOMEM;
        }
        m->n = 1;
        m->u.nums[0] = v->valuedouble;
        return 0;
    }
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), nstr = 0, nnum = 0;
        for (const cJSON *e = v->child; e; e = e->next) {
            nstr += cJSON_IsString(e);
            nnum += cJSON_IsNumber(e) && isfinite(e->valuedouble);
        }
        if (n == 0 || (nstr != n && nnum != n)) {
            cerr(c, "anything-but: a list holds only strings or only numbers, at least one");
            return TRG_EINVAL;
        }
        if (nstr == n) {
            m->kind = M_NOT_STR;
            return strlist_compile(c, m, v, false, anything_but_usage);
        }
        m->kind = M_NOT_NUM;
        m->u.nums = trg_calloc((size_t)n, sizeof *m->u.nums);
        if (!m->u.nums) {
            c_oom(c);
            return TRG_ENOMEM;
        }
        m->n = (size_t)n;
        size_t i = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            m->u.nums[i++] = e->valuedouble;
        return 0;
    }
    if (cJSON_IsObject(v) && v->child && !v->child->next) {
        const cJSON *in = v->child;
        const char *op = in->string;
        if (!strcmp(op, "prefix")) {
            m->kind = M_NOT_PREFIX;
            return affixlist_compile(c, m, in, op);
        }
        if (!strcmp(op, "suffix")) {
            m->kind = M_NOT_SUFFIX;
            return affixlist_compile(c, m, in, op);
        }
        if (!strcmp(op, "equals-ignore-case")) {
            m->kind = M_NOT_EIC;
            return strlist_compile(c, m, in, true,
                                   "anything-but equals-ignore-case expects a string or a non-empty list of "
                                   "strings");
        }
        if (!strcmp(op, "wildcard")) {
            m->kind = M_NOT_WILDCARD;
            return wildlist_compile(c, m, in,
                                    "anything-but wildcard expects a string or a non-empty list of strings");
        }
        if (!strcmp(op, "cidr")) {
            m->kind = M_NOT_CIDR;
            return cidrlist_compile(c, m, in, "anything-but cidr",
                                    "anything-but cidr expects a string or a non-empty list of strings such "
                                    "as \"10.0.0.0/8\"");
        }
    }
    cerr(c, "%s", anything_but_usage);
    return TRG_EINVAL;
}

/* prefix / suffix: a string, or {"equals-ignore-case": string}. */
static int affix_compile(struct cctx *c, struct matcher *m, const cJSON *v, bool prefix)
{
    if (cJSON_IsString(v))
        return m_str1(c, m, prefix ? M_PREFIX : M_SUFFIX, v->valuestring, false);
    if (cJSON_IsObject(v) && v->child && !v->child->next && !strcmp(v->child->string, "equals-ignore-case") &&
        cJSON_IsString(v->child))
        return m_str1(c, m, prefix ? M_PREFIX_IC : M_SUFFIX_IC, v->child->valuestring, true);
    cerr(c, "%s expects a string, or {\"equals-ignore-case\": \"...\"}", prefix ? "prefix" : "suffix");
    return TRG_EINVAL;
}

static const char known_ops[] =
    "prefix, suffix, equals-ignore-case, anything-but, numeric, exists, wildcard, cidr";

static int op_compile(struct cctx *c, struct matcher *m, const cJSON *obj)
{
    if (!obj->child || obj->child->next) {
        cerr(c, "an operator object has exactly one key, such as {\"prefix\": \"abc\"} (%s)", known_ops);
        m->kind = M_EXISTS;
        return TRG_EINVAL;
    }
    const cJSON *v = obj->child;
    const char *op = v->string;
    m->kind = M_EXISTS; /* a safe kind to free until set */
    if (!strcmp(op, "prefix"))
        return affix_compile(c, m, v, true);
    if (!strcmp(op, "suffix"))
        return affix_compile(c, m, v, false);
    if (!strcmp(op, "equals-ignore-case")) {
        if (!cJSON_IsString(v)) {
            cerr(c, "equals-ignore-case expects a string");
            return TRG_EINVAL;
        }
        return m_str1(c, m, M_EIC, v->valuestring, true);
    }
    if (!strcmp(op, "wildcard")) {
        if (!cJSON_IsString(v)) {
            cerr(c, "wildcard expects a string such as \"*.png\"");
            return TRG_EINVAL;
        }
        m->kind = M_WILDCARD;
        return wildlist_compile(c, m, v, "wildcard expects a string");
    }
    if (!strcmp(op, "exists")) {
        if (!cJSON_IsBool(v)) {
            cerr(c, "exists expects true or false");
            return TRG_EINVAL;
        }
        m->kind = M_EXISTS;
        m->u.exists = cJSON_IsTrue(v);
        return 0;
    }
    if (!strcmp(op, "numeric"))
        return numeric_compile(c, m, v);
    if (!strcmp(op, "anything-but"))
        return anything_but_compile(c, m, v);
    if (!strcmp(op, "cidr")) {
        m->kind = M_CIDR;
        if (!cJSON_IsString(v)) {
            cerr(c, "cidr expects a string such as \"10.0.0.0/24\" or \"2001:db8::/32\"");
            return TRG_EINVAL;
        }
        return cidrlist_compile(c, m, v, "cidr", "cidr expects a string");
    }
    cerr(c, "unknown operator \"%s\" (known: %s)", op, known_ops);
    return TRG_EINVAL;
}

static void leaf_compile(struct cctx *c, struct term *t, const cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    if (n <= 0) {
        cerr(c, "an empty list matches nothing: give at least one allowed value");
        return;
    }
    t->m = trg_calloc((size_t)n, sizeof *t->m);
    if (!t->m) {
        c_oom(c);
        return;
    }
    t->nm = (size_t)n;
    size_t i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        struct matcher *m = &t->m[i];
        m->kind = M_EXISTS; /* harmless placeholder until compiled */
        if (cJSON_IsString(v)) {
            m_str1(c, m, M_STR, v->valuestring, false);
        } else if (cJSON_IsNumber(v)) {
            if (finite_num(c, v, "value")) {
                m->kind = M_NUM;
                m->u.num = v->valuedouble;
            }
        } else if (cJSON_IsTrue(v)) {
            m->kind = M_TRUE;
        } else if (cJSON_IsFalse(v)) {
            m->kind = M_FALSE;
        } else if (cJSON_IsNull(v)) {
            m->kind = M_NULL;
        } else if (cJSON_IsObject(v)) {
            if (op_compile(c, m, v) == 0 && m->kind == M_EXISTS) {
                if (m->u.exists)
                    t->exists_true = true;
                else
                    t->exists_false = true;
            }
        } else {
            cerr(c, "a list of allowed values holds strings, numbers, true, false, null or operator objects, "
                    "not nested lists");
        }
        if (c->oom)
            return;
    }
}

static struct node *node_compile(struct cctx *c, const cJSON *obj, int depth);

static void or_compile(struct cctx *c, struct term *t, const cJSON *v, int depth)
{
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    t->is_or = true;
    if (n < 2) {
        cerr(c, "$or expects an array of at least two pattern objects");
        return;
    }
    t->branch = trg_calloc((size_t)n, sizeof *t->branch);
    if (!t->branch) {
        c_oom(c);
        return;
    }
    t->nbranch = (size_t)n;
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        size_t saved = path_index(c, i);
        if (!cJSON_IsObject(e))
            cerr(c, "$or expects an array of at least two pattern objects");
        else
            t->branch[i] = node_compile(c, e, depth + 1);
        path_back(c, saved);
        if (c->oom)
            return;
    }
}

/* Compile a pattern object. NULL only when out of memory; other errors are reported and leave a
 * partial node that the caller frees. */
static struct node *node_compile(struct cctx *c, const cJSON *obj, int depth)
{
    struct node *nd = trg_calloc(1, sizeof *nd);
    if (!nd) {
        c_oom(c);
        return NULL;
    }
    if (depth > TRG_FILTER_MAX_DEPTH) {
        cerr(c, "pattern nested deeper than %d objects", TRG_FILTER_MAX_DEPTH);
        return nd;
    }
    int n = cJSON_GetArraySize(obj);
    if (n <= 0) {
        cerr(c, "an empty object matches nothing: name at least one field");
        return nd;
    }
    nd->t = trg_calloc((size_t)n, sizeof *nd->t);
    if (!nd->t) {
        c_oom(c);
        return nd;
    }
    nd->n = (size_t)n;
    size_t i = 0;
    for (const cJSON *k = obj->child; k; k = k->next, i++) {
        struct term *t = &nd->t[i];
        if (!k->string) {
            cerr(c, "a pattern object has named fields only");
            continue;
        }
        size_t saved = path_key(c, k->string);
        if (!strcmp(k->string, "$or")) {
            or_compile(c, t, k, depth);
        } else {
            t->name = trg_strdup(k->string);
            if (!t->name)
                c_oom(c);
            else if (cJSON_IsObject(k))
                t->child = node_compile(c, k, depth + 1);
            else if (cJSON_IsArray(k))
                leaf_compile(c, t, k);
            else
                cerr(c, "expects a list of allowed values such as [\"a\", \"b\"] or a nested object");
        }
        path_back(c, saved);
        if (c->oom)
            break;
    }
    return nd;
}

/* ---------------------------------------------------------------------------------------------
 * Expanding $or into alternatives, as event-ruler compiles a pattern: fields are taken in the
 * order written; a $or gives one copy of everything before it per branch, each continued with the
 * branch; a field whose path (names from the root, $or left out) is already in an alternative
 * replaces it there. Then each alternative is built into a tree of its own. */

/* One alternative under construction: leaves of the written tree, at most one per path, in order. */
struct alt {
    struct term **leaf;
    size_t n, cap;
};

struct alts {
    struct alt *v;
    size_t n, cap;
};

static void alts_free(struct alts *as)
{
    for (size_t i = 0; i < as->n; i++)
        trg_free(as->v[i].leaf);
    trg_free(as->v);
    as->v = NULL;
    as->n = as->cap = 0;
}

/* Append a, taking ownership of a.leaf (freed on failure too). */
static int alts_push(struct cctx *c, struct alts *as, struct alt a)
{
    if (as->n == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 4;
        struct alt *v = trg_realloc(as->v, cap * sizeof *v);
        if (!v) {
            trg_free(a.leaf);
            c_oom(c);
            return TRG_ENOMEM;
        }
        as->v = v;
        as->cap = cap;
    }
    as->v[as->n++] = a;
    return 0;
}

/* Append a copy of src. */
static int alts_push_copy(struct cctx *c, struct alts *as, const struct alt *src)
{
    struct alt a = {NULL, 0, 0};
    if (src->n) {
        a.leaf = trg_malloc(src->n * sizeof *a.leaf);
        if (!a.leaf) {
            c_oom(c);
            return TRG_ENOMEM;
        }
        memcpy(a.leaf, src->leaf, src->n * sizeof *a.leaf);
        a.n = a.cap = src->n;
    }
    return alts_push(c, as, a);
}

static bool same_path(const struct term *a, const struct term *b)
{
    if (a->plen != b->plen)
        return false;
    for (size_t i = 0; i < a->plen; i++)
        if (strcmp(a->path[i], b->path[i]) != 0)
            return false;
    return true;
}

static int alt_put(struct cctx *c, struct alt *a, struct term *leaf)
{
    for (size_t i = 0; i < a->n; i++)
        if (same_path(a->leaf[i], leaf)) {
            a->leaf[i] = leaf;
            return 0;
        }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        struct term **v = trg_realloc(a->leaf, cap * sizeof *v);
        if (!v) {
            c_oom(c);
            return TRG_ENOMEM;
        }
        a->leaf = v;
        a->cap = cap;
    }
    a->leaf[a->n++] = leaf;
    return 0;
}

/* Continue every alternative of as with node nd, found under the field names stack[0..depth). */
static int expand(struct cctx *c, struct alts *as, struct node *nd, char **stack, size_t depth)
{
    for (size_t i = 0; i < nd->n; i++) {
        struct term *t = &nd->t[i];
        int rc = 0;
        if (t->is_or) {
            size_t saved = path_key(c, "$or");
            struct alts before = *as;
            as->v = NULL;
            as->n = as->cap = 0;
            for (size_t b = 0; b < t->nbranch && !rc; b++) {
                struct alts br = {NULL, 0, 0};
                size_t sb = path_index(c, b);
                if (before.n == 0)
                    rc = alts_push(c, &br, (struct alt){NULL, 0, 0});
                for (size_t k = 0; k < before.n && !rc; k++)
                    rc = alts_push_copy(c, &br, &before.v[k]);
                if (!rc)
                    rc = expand(c, &br, t->branch[b], stack, depth);
                for (size_t k = 0; k < br.n && !rc; k++) {
                    rc = alts_push(c, as, br.v[k]);
                    br.v[k].leaf = NULL;
                }
                alts_free(&br);
                path_back(c, sb);
                if (!rc && as->n > TRG_FILTER_MAX_ALTERNATIVES) {
                    cerr(c,
                         "the $or branches combine into more than %d alternatives (each $or multiplies "
                         "them by its number of branches): split the pattern into several patterns",
                         TRG_FILTER_MAX_ALTERNATIVES);
                    rc = TRG_EINVAL;
                }
            }
            alts_free(&before);
            path_back(c, saved);
        } else if (t->child) {
            size_t saved = path_key(c, t->name);
            stack[depth] = t->name;
            rc = expand(c, as, t->child, stack, depth + 1);
            path_back(c, saved);
        } else {
            if (!t->path) {
                t->path = trg_malloc((depth + 1) * sizeof *t->path);
                if (!t->path) {
                    c_oom(c);
                    return TRG_ENOMEM;
                }
                memcpy(t->path, stack, depth * sizeof *t->path);
                t->path[depth] = t->name;
                t->plen = depth + 1;
            }
            if (as->n == 0)
                rc = alts_push(c, as, (struct alt){NULL, 0, 0});
            for (size_t k = 0; k < as->n && !rc; k++)
                rc = alt_put(c, &as->v[k], t);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The tree of one alternative, from its n leaves that share path[0..depth). Its terms borrow names
 * and matchers from the written tree. NULL when out of memory. */
static struct node *alt_build(struct cctx *c, struct term **leaf, size_t n, size_t depth)
{
    struct node *nd = trg_calloc(1, sizeof *nd);
    struct term **sub = trg_calloc(n ? n : 1, sizeof *sub);
    if (!nd || !sub)
        goto fail;
    nd->borrowed = true;
    nd->t = trg_calloc(n ? n : 1, sizeof *nd->t);
    if (!nd->t)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct term *l = leaf[i];
        if (l->plen == depth + 1) {
            nd->t[nd->n++] = *l;
            continue;
        }
        const char *name = l->path[depth];
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = leaf[k]->plen > depth + 1 && !strcmp(leaf[k]->path[depth], name);
        if (seen)
            continue;
        size_t ns = 0;
        for (size_t k = i; k < n; k++)
            if (leaf[k]->plen > depth + 1 && !strcmp(leaf[k]->path[depth], name))
                sub[ns++] = leaf[k];
        struct term *t = &nd->t[nd->n++];
        t->name = l->path[depth];
        t->child = alt_build(c, sub, ns, depth + 1);
        if (!t->child)
            goto fail;
    }
    trg_free(sub);
    return nd;
fail:
    c_oom(c);
    trg_free(sub);
    node_free(nd);
    return NULL;
}

/* Is every one of the n alternatives one field holding a nested object, the same field? */
static bool alt_same_field(struct node *const *alts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (alts[i]->n != 1 || !alts[i]->t[0].child || strcmp(alts[i]->t[0].name, alts[0]->t[0].name) != 0)
            return false;
    return true;
}

/* One tree for the OR of the n >= 2 alternative trees alts (takes ownership of the array and the
 * trees, also when it fails: NULL, out of memory). {f: A} or {f: B} becomes {f: (A or B)}, as far
 * down as every alternative is the same single field: a record matches either when one element of f
 * matches A or one matches B. The rest is a $or term. This looks f up once instead of once per
 * alternative. */
static struct node *alt_or(struct cctx *c, struct node **alts, size_t n)
{
    struct node *nd = trg_calloc(1, sizeof *nd);
    struct term *t = nd ? trg_calloc(1, sizeof *t) : NULL;
    if (!t) {
        c_oom(c);
        trg_free(nd);
        for (size_t i = 0; i < n; i++)
            node_free(alts[i]);
        trg_free(alts);
        return NULL;
    }
    nd->borrowed = true;
    nd->t = t;
    nd->n = 1;
    if (!alt_same_field(alts, n)) {
        t->is_or = true;
        t->branch = alts;
        t->nbranch = n;
        return nd;
    }
    t->name = alts[0]->t[0].name;
    for (size_t i = 0; i < n; i++) {
        struct node *a = alts[i];
        alts[i] = a->t[0].child;
        a->t[0].child = NULL;
        node_free(a);
    }
    t->child = alt_or(c, alts, n);
    if (!t->child) {
        node_free(nd);
        return NULL;
    }
    return nd;
}

static int pattern_expand(struct cctx *c, struct pattern *p)
{
    char *stack[TRG_FILTER_MAX_DEPTH + 1];
    struct alts as = {NULL, 0, 0};
    int rc = expand(c, &as, p->tree, stack, 0);
    if (rc)
        goto done;
    p->alt = trg_calloc(as.n ? as.n : 1, sizeof *p->alt);
    if (!p->alt) {
        c_oom(c);
        rc = TRG_ENOMEM;
        goto done;
    }
    for (size_t a = 0; a < as.n; a++) {
        p->alt[a] = alt_build(c, as.v[a].leaf, as.v[a].n, 0);
        if (!p->alt[a]) {
            rc = TRG_ENOMEM;
            goto done;
        }
        p->nalt = a + 1;
    }
    if (p->nalt > 1 && alt_same_field(p->alt, p->nalt)) {
        struct node **v = p->alt;
        size_t n = p->nalt;
        p->alt = trg_calloc(1, sizeof *p->alt);
        if (!p->alt) {
            p->alt = v;
            c_oom(c);
            rc = TRG_ENOMEM;
            goto done;
        }
        p->alt[0] = alt_or(c, v, n);
        p->nalt = p->alt[0] ? 1 : 0;
        if (!p->alt[0])
            rc = TRG_ENOMEM;
    }
done:
    alts_free(&as);
    return rc;
}

/* One element of "filters": an object, a string holding one, or Lambda's {"Pattern": "..."}. */
static struct node *pattern_compile(struct cctx *c, const cJSON *p)
{
    if (cJSON_IsObject(p) && p->child && !p->child->next && p->child->string &&
        !strcmp(p->child->string, "Pattern") && cJSON_IsString(p->child))
        p = p->child;
    if (cJSON_IsString(p)) {
        cJSON *parsed = cJSON_Parse(p->valuestring);
        struct node *nd = NULL;
        if (!parsed)
            cerr(c, "the pattern string is not valid JSON");
        else if (!cJSON_IsObject(parsed))
            cerr(c, "a pattern is a JSON object such as {\"source\": [\"orders\"]}");
        else
            nd = node_compile(c, parsed, 1);
        cJSON_Delete(parsed);
        return nd;
    }
    if (!cJSON_IsObject(p)) {
        cerr(c, "a pattern is a JSON object such as {\"source\": [\"orders\"]}");
        return NULL;
    }
    return node_compile(c, p, 1);
}

struct trg_filter *trg_filter_compile(const cJSON *patterns, const char *path, struct trg_errs *errs)
{
    struct cctx c = {.errs = errs};
    struct trg_filter *f = trg_calloc(1, sizeof *f);
    if (!f || trg_buf_adds(&c.path, path ? path : "$")) {
        c_oom(&c);
        goto fail;
    }
    if (!patterns || cJSON_IsNull(patterns))
        goto done;
    if (cJSON_IsObject(patterns) || cJSON_IsString(patterns)) {
        f->pat = trg_calloc(1, sizeof *f->pat);
        if (!f->pat) {
            c_oom(&c);
            goto fail;
        }
        f->n = 1;
        f->pat[0].tree = pattern_compile(&c, patterns);
        goto done;
    }
    if (!cJSON_IsArray(patterns)) {
        cerr(&c, "filters expects a list of pattern objects such as [{\"source\": [\"orders\"]}]");
        goto fail;
    }
    int n = cJSON_GetArraySize(patterns);
    if (n == 0)
        goto done;
    if (n > TRG_FILTER_PATTERNS_WARN)
        trg_warn("filter", c.path.data,
                 "%d patterns: Lambda allows %d per event source mapping (10 with a quota increase); "
                 "trigd accepts them all, each record is tried against each in turn",
                 n, TRG_FILTER_PATTERNS_WARN);
    f->pat = trg_calloc((size_t)n, sizeof *f->pat);
    if (!f->pat) {
        c_oom(&c);
        goto fail;
    }
    f->n = (size_t)n;
    size_t i = 0;
    for (const cJSON *p = patterns->child; p && !c.oom; p = p->next, i++) {
        size_t saved = path_index(&c, i);
        f->pat[i].tree = pattern_compile(&c, p);
        path_back(&c, saved);
    }
done:
    if (c.nerr || c.oom)
        goto fail;
    for (size_t k = 0; k < f->n; k++)
        if (!f->pat[k].tree)
            goto fail;
    for (size_t k = 0; k < f->n; k++) {
        size_t saved = f->n > 1 || cJSON_IsArray(patterns) ? path_index(&c, k) : c.path.len;
        int rc = pattern_expand(&c, &f->pat[k]);
        path_back(&c, saved);
        if (rc || c.nerr || c.oom)
            goto fail;
    }
    trg_buf_free(&c.path);
    return f;
fail:
    trg_buf_free(&c.path);
    trg_filter_free(f);
    return NULL;
}
