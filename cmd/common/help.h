/* help.h -- the one source of tq's and tq-worker's usage text (issue 17).
 *
 * Each program describes itself once, as data: a help_prog with its
 * commands (cmd/tq/help.c) or its flags alone (cmd/tq-worker/help.c). From
 * that table, help.c renders the --help text, the man page (roff, printed by
 * the hidden --help-man at build time), the bash and zsh completion scripts
 * (the hidden --help-completion bash|zsh), and the "did you mean" hints. The
 * programs' parsers are checked against the table (tq --help-check, run by
 * tests/integration/t_help.sh), so the text cannot drift from what they take.
 */
#ifndef TQ_CMD_HELP_H
#define TQ_CMD_HELP_H

#include <stddef.h>
#include <stdio.h>

/* One flag. values: what completion offers for its argument: words
 * separated by spaces, or "@queue", "@schedule", "@ratelimit",
 * "@semaphore" (names read from Redis), "@file"; NULL: nothing. */
struct help_flag {
    const char *name;      /* "--queue" */
    const char *arg;       /* "Q"; NULL: the flag takes no value */
    const char *def;       /* the default, as a user reads it; NULL: none */
    const char *meaning;   /* one sentence or two */
    const char *values;
};

/* One command or subcommand ("group submit"). */
struct help_cmd {
    const char *name;
    const char *group;     /* one of the program's groups */
    const char *synopsis;  /* what follows "tq NAME " */
    const char *summary;   /* one line */
    const struct help_flag *flags; /* its own flags, ended by {NULL} */
    const char *exits;     /* the exit codes that apply, as digits: "0256" */
    const char *example;   /* one command line (lines joined by \n) */
    const char *complete;  /* its positionals' completion: "@queue", ...; NULL */
};

struct help_prog {
    const char *name;      /* "tq" */
    const char *section;   /* "1", "8" */
    const char *title;     /* the man page's NAME line: "a distributed task queue" */
    const char *synopsis;  /* after the name */
    const char *description; /* paragraphs separated by blank lines */
    const char *const *groups;   /* NULL-ended, in the order shown */
    const struct help_cmd *cmds; /* NULL-ended ({NULL}) */
    const struct help_flag *common; /* the flags of every command, {NULL}-ended */
    const char *const *exit_codes; /* 0..n: meaning; NULL-ended */
    const char *environment; /* "NAME\tmeaning" lines */
    const char *notes;       /* durations and the like; paragraphs */
    const char *example;     /* the program's own example (no commands) */
};

/* The tables: cmd/tq/help.c, cmd/tq-worker/help.c. */
extern const struct help_prog tq_help_tq;
extern const struct help_prog tq_help_worker;

/* Edit distance of a and b (bytes): insertions, deletions, substitutions
 * and swaps of two neighbours (optimal string alignment); a string longer
 * than 99 bytes is 99 away. */
int help_distance(const char *a, const char *b);
/* The candidate nearest word, when it is close enough to be a typo (at most
 * 2 edits, and fewer than half of word's length); else NULL. */
const char *help_nearest(const char *word, const char *const *cands, size_t n);

/* The command named by words[0] (and words[1] if that makes a subcommand):
 * sets *used to 1 or 2. NULL if none. */
const struct help_cmd *help_find(const struct help_prog *p, const char *const *words,
                                 size_t n, size_t *used);
/* Whether some command of p is named "word ..." (a family with subcommands). */
int help_is_family(const struct help_prog *p, const char *word);

/* tq --help: the commands grouped, the common flags, exit codes. */
void help_print_overview(FILE *f, const struct help_prog *p);
/* tq help CMD SUB: one command; a family's name alone prints each of its
 * subcommands. */
void help_print_cmd(FILE *f, const struct help_prog *p, const struct help_cmd *c);
void help_print_family(FILE *f, const struct help_prog *p, const char *family);
/* The man page, roff (man(7)); date: the page's, e.g. "2026-11-29". */
void help_print_man(FILE *f, const struct help_prog *p, const char *version,
                    const char *date);
/* Completion scripts: shell "bash" or "zsh"; returns -1 for another. */
int help_print_completion(FILE *f, const struct help_prog *p, const char *shell);

#endif
