/* state.c -- the names of a job's states, as the record and the CLI spell them.
 *
 * The enum's order is the table's order, so a name is one index away and a
 * parse is a scan of seven strings.
 */
#include <string.h>

#include "tq/tq.h"

static const char *const state_names[] = {
    [TQ_STATE_UNKNOWN] = "unknown",
    [TQ_STATE_WAITING] = "waiting",
    [TQ_STATE_SCHEDULED] = "scheduled",
    [TQ_STATE_PENDING] = "pending",
    [TQ_STATE_ACTIVE] = "active",
    [TQ_STATE_SUCCEEDED] = "succeeded",
    [TQ_STATE_FAILED] = "failed",
    [TQ_STATE_CANCELLED] = "cancelled",
};

#define STATE_COUNT (sizeof state_names / sizeof state_names[0])

const char *tq_state_name(tq_state s)
{
    if ((unsigned)s >= STATE_COUNT)
        return state_names[TQ_STATE_UNKNOWN];
    return state_names[s];
}

/* "unknown" is not a state anyone may set, so it parses as UNKNOWN too. */
tq_state tq_state_parse(const char *name)
{
    size_t i;

    if (!name)
        return TQ_STATE_UNKNOWN;
    for (i = TQ_STATE_UNKNOWN + 1; i < STATE_COUNT; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (tq_state)i;
    return TQ_STATE_UNKNOWN;
}

int tq_state_terminal(tq_state s)
{
    return s == TQ_STATE_SUCCEEDED || s == TQ_STATE_FAILED ||
           s == TQ_STATE_CANCELLED;
}
