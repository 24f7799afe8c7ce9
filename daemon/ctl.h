/*
 * ctl: ringsyncctl's commands kept in their own files.
 */
#ifndef RINGSYNC_CTL_H
#define RINGSYNC_CTL_H

#include "config.h"

#define CTL_EXIT_CONFIG 2       /* configuration or state store problem */
#define CTL_EXIT_UNREACHABLE 3  /* AD or the phone system unreachable */

/* ctl_schema: ringsyncctl schema; 0, 2 or 3. */
int ctl_schema(const struct config *cfg);

#endif
