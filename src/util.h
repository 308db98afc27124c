/* util.h — allocation wrappers, growable buffers, clocks, small encoders.
 *
 * Every allocation in trigd goes through trg_malloc() and friends so a test build
 * can make them fail (trg_alloc_fail_after). They return NULL on failure, like malloc.
 */
#ifndef TRG_UTIL_H
#define TRG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Return codes shared by the whole code base: 0 is success, errors are negative. */
enum trg_err {
    TRG_OK = 0,
    TRG_ENOMEM = -1,   /* allocation failed */
    TRG_EINVAL = -2,   /* bad argument or input */
    TRG_EIO = -3,      /* system or network I/O failed */
    TRG_EFULL = -4,    /* a bounded queue is full: try again later */
    TRG_ENOTFOUND = -5,
    TRG_ESTATE = -6,   /* not possible in the current state (stopping, not connected) */
};

/* Name of an error code, for logs ("out of memory", ...). */
const char *trg_strerror(int err);

void *trg_malloc(size_t n);
void *trg_calloc(size_t nmemb, size_t size);
void *trg_realloc(void *p, size_t n);
char *trg_strdup(const char *s);          /* trg_strdup(NULL) returns NULL */
char *trg_strndup(const char *s, size_t n);
void trg_free(void *p);
/* printf into a new string; caller frees with trg_free(). NULL on failure. */
char *trg_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A free list of same-size objects for the hot path (a route's entry per event, a Kafka record's
 * tracker): trg_pool_get() returns a zeroed object, taken from the list or else trg_calloc'd (NULL on
 * ENOMEM); trg_pool_put() keeps it for the next get, up to `keep` objects, and frees it beyond that. One
 * thread only. Under AddressSanitizer nothing is kept, so a use after put is still caught. */
struct trg_pool {
    size_t size;   /* bytes per object (at least a pointer) */
    size_t keep;   /* objects kept at most */
    size_t n;      /* objects kept now */
    void *free;    /* the kept objects, linked through their first bytes */
};
#define TRG_POOL_INIT(type, keep) {sizeof(type) > sizeof(void *) ? sizeof(type) : sizeof(void *), (keep), 0, NULL}
void *trg_pool_get(struct trg_pool *p);
void trg_pool_put(struct trg_pool *p, void *obj); /* NULL is a no-op */
void trg_pool_clear(struct trg_pool *p);          /* frees the kept objects */

/* Test hook: after N more successful allocations, every allocation fails (-1 = never). */
void trg_alloc_fail_after(long n);

/* Route cJSON's allocations through the wrappers above. Call once at start. */
void trg_json_init_hooks(void);
/* Parse exactly one JSON value from len bytes: anything but white space after it is an error. On
 * error returns NULL and, when error_at is not NULL, sets it to where parsing stopped. Caller frees
 * with cJSON_Delete(). */
struct cJSON *trg_json_parse(const char *s, size_t len, const char **error_at);
/* The JSON object of len bytes (trg_json_parse), with its string member `field` replaced by that string
 * parsed when it holds exactly one JSON value (trg_json_parse: trailing garbage leaves it a string), unless
 * the object's isBase64Encoded is true. What filters see of a record with a body (docs/FILTERS.md). NULL
 * when the bytes are not JSON. Caller frees with cJSON_Delete(). */
struct cJSON *trg_json_parse_field(const char *s, size_t len, const char *field);

/* A growable byte buffer, always NUL-terminated when data != NULL. */
struct trg_buf {
    char *data;
    size_t len;
    size_t cap;
};
/* Make room for extra more bytes (and the NUL) in one allocation, so that a known-size build grows once. */
int trg_buf_reserve(struct trg_buf *b, size_t extra);
/* Append n bytes (p may be NULL when n is 0), a string, a character. Inline: JSON is built with many
 * small appends per record, and the call cost showed in the Kafka profile (docs/KAFKA.md). */
static inline int trg_buf_add(struct trg_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap && trg_buf_reserve(b, n) != 0)
        return TRG_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}
static inline int trg_buf_adds(struct trg_buf *b, const char *s) { return trg_buf_add(b, s, strlen(s)); }
static inline int trg_buf_addc(struct trg_buf *b, char c) { return trg_buf_add(b, &c, 1); }
int trg_buf_addf(struct trg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int trg_buf_vaddf(struct trg_buf *b, const char *fmt, va_list ap);
/* Append v in decimal (what "%" PRId64 prints, without printf's cost). */
int trg_buf_add_int(struct trg_buf *b, int64_t v);
/* Append s (n bytes) as a JSON string literal, quotes included. */
int trg_buf_add_json_str(struct trg_buf *b, const char *s, size_t n);
/* Append the standard base64 encoding of n bytes. */
int trg_buf_add_base64(struct trg_buf *b, const void *p, size_t n);
/* Append the bytes that the standard base64 text s (len bytes) encodes. Trailing '=' are optional;
 * padding inside, characters outside the alphabet, or a length of 4k+1 after the padding is stripped
 * give TRG_EINVAL (4k+1 before anything is appended; otherwise out may hold part of the bytes).
 * On success out->data is NUL-terminated, also for an empty result. TRG_ENOMEM when out cannot grow. */
int trg_base64_decode(const char *s, size_t len, struct trg_buf *out);
void trg_buf_reset(struct trg_buf *b);    /* len = 0, memory kept */
void trg_buf_free(struct trg_buf *b);     /* frees data; the struct is reusable */
/* Hand the data to the caller (caller frees with trg_free()); the buffer is left empty. */
char *trg_buf_steal(struct trg_buf *b);

/* Wall clock in milliseconds since the epoch, and a monotonic clock in milliseconds. */
int64_t trg_wall_ms(void);
int64_t trg_mono_ms(void);
/* Format epoch milliseconds as RFC 3339 UTC with milliseconds: "2025-06-14T09:31:07.563Z" (25 bytes). */
void trg_format_time_ms(int64_t ms, char out[32]);

/* A request id in the shape of a UUID v4 (37 bytes with NUL) made of the 128 bits hi and lo. */
void trg_request_id_from(uint64_t hi, uint64_t lo, char out[40]);
/* A random request id from the operating system's random source, for code that holds no core (struct
 * trg_core, whose trg_core_request_id() the engine's modules use): the Lambda API's error answers, the
 * DLQ record builder's default, the Event queue, the Invoke API. */
void trg_request_id(char out[40]);
/* n bytes from the operating system's random source (getrandom; when that fails, a generator seeded from
 * the clock and the process id: still distinct between processes, never rand()). */
void trg_random_bytes(void *p, size_t n);

/* The value of the hex digit c (0-9, a-f, A-F), or -1 when c is not one. */
int trg_hex_digit(int c);

/* Length (1 to 4) of the well-formed UTF-8 sequence at the start of s (n >= 1 bytes), or 0 when there
 * is none there: a stray continuation byte, a truncated sequence, an overlong form, a surrogate, or
 * beyond U+10FFFF. A NUL byte is a sequence of length 1. */
size_t trg_utf8_seq(const void *s, size_t n);

/* Constant-time comparison of two strings, for tokens. */
bool trg_secure_streq(const char *a, const char *b);
/* url as it may appear in a log line or an error: the password of its userinfo (`user:***@`, or `***@`
 * when there is no user part) and the value of every query parameter whose name holds password,
 * secret, token, key, sig, credential or auth (case-insensitive) become ***. Written into buf
 * (truncated to len - 1 bytes, always NUL-terminated); returns buf. NULL url gives "". */
const char *trg_url_redact(const char *url, char *buf, size_t len);
/* Is s[0..n), which cJSON parsed, JSON for every other reader too? cJSON also takes numbers such as
 * 0123, +1 or 1. (it reads them with strtod), text that is not UTF-8, and raw control characters inside
 * strings (allowed here when ctrl_in_strings: the caller escapes them). Text copied into an event or a
 * record as JSON must pass this, or be sent as a string. */
bool trg_json_strict(const char *s, size_t n, bool ctrl_in_strings);
/* Does a setting or parameter of this name hold a secret (the words trg_url_redact() looks for)? */
bool trg_secret_name(const char *name);

/* A list of strings, and an ordered list of name/value pairs (headers, env). */
struct trg_strlist {
    char **v;
    size_t n;
};
void trg_strlist_free(struct trg_strlist *l);
struct trg_kvlist {
    char **k;
    char **v;
    size_t n;
};
void trg_kvlist_free(struct trg_kvlist *l);

#define TRG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
