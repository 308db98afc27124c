/* minio_event.h — private to connectors/minio/: the pure parts of the MinIO source, unit-tested
 * without a loop: object key encodings, event-name patterns, the source-level filter, webhook body
 * validation, listen-stream line splitting, and building one trigd event from one S3 record.
 */
#ifndef TRG_MINIO_EVENT_H
#define TRG_MINIO_EVENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "../connector.h"

/* Append n bytes of s encoded like Go's url.QueryEscape (what MinIO puts in s3.object.key of its
 * webhook bodies): A-Z a-z 0-9 - _ . ~ kept, space as '+', every other byte as %XX (upper case). */
int trg_minio_key_escape(const char *s, size_t n, struct trg_buf *out);
/* Append the decoded form of a form-encoded key ('+' is a space, %XX a byte). TRG_EINVAL when a
 * '%' is not followed by two hex digits. */
int trg_minio_key_unescape(const char *s, struct trg_buf *out);
/* Append s encoded for a SigV4 canonical query: A-Z a-z 0-9 - _ . ~ kept, every other byte %XX. */
int trg_minio_uri_escape(const char *s, struct trg_buf *out);

/* Does the event name match pattern? A pattern ending in '*' matches every name starting with what
 * precedes the '*' ("s3:ObjectCreated:*"); any other pattern matches itself exactly. */
bool trg_minio_event_match(const char *pattern, const char *name);

/* Source-level filter: events (none = every event), prefix and suffix of the decoded key ("" = any). */
struct trg_minio_filter {
    char *const *events;
    size_t n_events;
    const char *prefix;
    const char *suffix;
};
bool trg_minio_filter_match(const struct trg_minio_filter *f, const char *event_name, const char *key);

/* Parse and check a notify_webhook body: {"EventName":"...","Key":"...","Records":[{...},...]}.
 * On success returns 0 and *doc (caller frees with cJSON_Delete()); its "Records" array is not empty.
 * Otherwise TRG_EINVAL (or TRG_ENOMEM) with *why a sentence saying what is wrong (static text). */
int trg_minio_webhook_parse(const char *body, size_t len, cJSON **doc, const char **why);

/* Split a listen stream: the next complete line in data[0..n), skipping the keep-alive spaces and
 * blank lines before it. true: line and line_len give the line without its newline (and without a
 * trailing CR); used: the bytes through the newline. false: no complete line yet; used is the
 * number of leading white-space bytes the caller may drop. */
bool trg_minio_stream_next(const char *data, size_t n, const char **line, size_t *line_len, size_t *used);

enum trg_minio_line {
    TRG_MINIO_LINE_PING,    /* {"Records":null} (or an empty Records array): keep-alive */
    TRG_MINIO_LINE_RECORDS, /* {"Records":[...]}: *doc is set */
    TRG_MINIO_LINE_BAD,     /* not JSON, or not an object with Records */
};
/* Classify one line of a listen stream. For TRG_MINIO_LINE_RECORDS, *doc is the parsed line (caller
 * frees with cJSON_Delete()); otherwise *doc is NULL. TRG_ENOMEM when parsing ran out of memory. */
int trg_minio_listen_line(const char *line, size_t len, cJSON **doc);

/* One S3 record made into what a trigd event carries. */
struct trg_minio_record {
    char *json;             /* the record, compact, with s3.object.key form-encoded */
    size_t len;
    char *item_id;          /* "<sequencer>:<bucket>/<encoded key>" (x-amz-request-id without sequencer) */
    char *key;              /* the decoded object key, for prefix/suffix filters */
    const char *event_name; /* borrowed from the record */
};
/* Check record (an element of Records) and build the event parts. key_is_raw: the key is as stored
 * (listen API) and is encoded into the record first (record is modified); otherwise it is already
 * form-encoded (webhook bodies) and is decoded for the filter. Requires eventName, s3.bucket.name and
 * s3.object.key strings; requestParameters may be null. Returns 0, TRG_ENOMEM, or TRG_EINVAL with *why. */
int trg_minio_record_build(cJSON *record, bool key_is_raw, struct trg_minio_record *out, const char **why);
void trg_minio_record_free(struct trg_minio_record *r);

/* The function's payload for n records: {"Records":[r1,...]}. */
int trg_minio_envelope(struct trg_event *const *evs, size_t n, struct trg_buf *out);

#endif
