/* errors.c -- tq's error codes: their text and the exit status of each.
 *
 * Every call in libtq returns 0 or a negative TQ_E* code. The code is the
 * whole contract with a program (SPEC §4's exit codes are a function of it);
 * the text here is only a fallback for when no one-line message came with it.
 */
#include "tq/tq.h"

const char *tq_strerror(int err)
{
    switch (err) {
    case TQ_OK:         return "success";
    case TQ_EFAILED:    return "job failed";
    case TQ_EINVAL:     return "invalid input";
    case TQ_ETIMEDOUT:  return "timed out";
    case TQ_ECANCELLED: return "job cancelled";
    case TQ_ENOTFOUND:  return "no such job or group";
    case TQ_EREDIS:     return "Redis unreachable or answered an error";
    case TQ_ENOMEM:     return "out of memory";
    case TQ_EPROTO:     return "undecodable reply or record";
    case TQ_EDURABLE:   return "accepted by the master, not yet on the replicas asked for";
    default:            return err > 0 ? "success" : "unknown error";
    }
}

/* Anything that is not an error (0, or a positive count some calls return)
 * exits 0. A negative code this version does not know is treated as the run
 * not being done at all, like ENOMEM: exit 6. */
int tq_exit_code(int err)
{
    switch (err) {
    case TQ_EFAILED:    return 1;
    case TQ_EINVAL:     return 2;
    case TQ_ETIMEDOUT:  return 3;
    case TQ_ECANCELLED: return 4;
    case TQ_ENOTFOUND:  return 5;
    case TQ_EREDIS:
    case TQ_ENOMEM:
    case TQ_EPROTO:     return 6;
    case TQ_EDURABLE:   return 7;
    default:            return err >= 0 ? 0 : 6;
    }
}
