/* dispatch.h — running a batch on its route's function, and what happens to it afterwards: the fate
 * src/fate.c decides (release, retry with backoff, bisect, DLQ) applied to the batch's entries.
 *
 * Engine-internal.
 */
#ifndef TRG_DISPATCH_H
#define TRG_DISPATCH_H

struct trg_batch;

/* Send a batch to its route's function now or as soon as the function has capacity (expired events go
 * to the DLQ first). */
void trg_dispatch_batch(struct trg_batch *b);

#endif
