/*
 * Ids and capabilities, in runc's order (finalizeNamespace):
 *   caps_drop_bounding   needs CAP_SETPCAP, so before the ids change;
 *   ids_apply            with PR_SET_KEEPCAPS so permitted survives setuid;
 *   caps_apply           capset(2) then the ambient set, which needs the
 *                        caps to be in permitted and inheritable already.
 */
#ifndef BERTH_INIT_CREDS_H
#define BERTH_INIT_CREDS_H

#include "plan.h"

/* In a new user namespace: become root there (the parent has mapped it). */
int become_userns_root(struct berth_err *err);
int caps_drop_bounding(const struct plan *p, struct berth_err *err);
int ids_apply(const struct plan *p, struct berth_err *err);
int caps_apply(const struct plan *p, struct berth_err *err);

#endif
