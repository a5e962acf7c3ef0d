#ifndef BERTH_INIT_NSJOIN_H
#define BERTH_INIT_NSJOIN_H

#include "plan.h"

/* Open every NS_JOIN path, then setns(2) into each in plan order. */
int nsjoin_all(const struct plan *p, struct berth_err *err);

#endif
