/*
 * ctl: ringsyncctl's commands kept in their own files.
 */
#ifndef RINGSYNC_CTL_H
#define RINGSYNC_CTL_H

#include "config.h"

#define CTL_EXIT_CONFIG 2       /* configuration or state store problem */
#define CTL_EXIT_UNREACHABLE 3  /* AD or the phone system unreachable */

struct store;

/*
 * ctl_store_open_rw: the daemon's store for a short write: taken over when
 * ringsyncd is not running, else shared with it (LMDB serialises the
 * writers; the daemon reads what changed at its next use). 0, or -1 with
 * err.
 */
int ctl_store_open_rw(const struct config *cfg, struct store **st, char *err,
    size_t errlen);

/* ctl_schema: ringsyncctl schema; 0, 2 or 3. */
int ctl_schema(const struct config *cfg);

#endif
