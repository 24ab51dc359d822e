/* test_help.c -- cmd/common/help.c and the two help tables: the edit
 * distance behind "did you mean", and the tables' own consistency (every
 * command in a known group, with a summary, an example and exit codes that
 * exist; every flag spelled as a flag, with a meaning). Whether the parsers
 * take exactly the flags of the tables is t_help.sh's (tq --help-check). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "cmd/common/help.h"

static void test_distance(void **state)
{
    assert_int_equal(help_distance("", ""), 0);
    assert_int_equal(help_distance("submit", "submit"), 0);
    assert_int_equal(help_distance("sbumit", "submit"), 1);  /* a swap: one edit */
    assert_int_equal(help_distance("ab", "ba"), 1);
    assert_int_equal(help_distance("ca", "abc"), 3);      /* no swap then insert */
    assert_int_equal(help_distance("submt", "submit"), 1);   /* a deletion */
    assert_int_equal(help_distance("submitt", "submit"), 1); /* an insertion */
    assert_int_equal(help_distance("sabmit", "submit"), 1);  /* a substitution */
    assert_int_equal(help_distance("", "wait"), 4);
    assert_int_equal(help_distance("kitten", "sitting"), 3);
    char big[200];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(help_distance(big, "a"), 99); /* too long: far */
}

static void test_nearest(void **state)
{
    const char *cmds[] = {"submit", "submit-many", "status", "stats", "wait", "workers"};
    size_t n = sizeof cmds / sizeof *cmds;

    assert_string_equal(help_nearest("sbumit", cmds, n), "submit");
    assert_string_equal(help_nearest("statu", cmds, n), "status");
    assert_string_equal(help_nearest("wiat", cmds, n), "wait");
    assert_string_equal(help_nearest("worker", cmds, n), "workers");
    assert_null(help_nearest("xyz", cmds, n));     /* nothing close */
    assert_null(help_nearest("ab", cmds, n));      /* short words: no guess */
    assert_null(help_nearest("deploy", cmds, n));
    assert_null(help_nearest("submit", cmds, 0));
}

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (!strcmp(*list, s))
            return 1;
    return 0;
}

static void check_flag(const struct help_flag *f, const char *where)
{
    if (f->name[0] != '-')
        fail_msg("%s: flag '%s' is not spelled as one", where, f->name);
    if (!f->meaning || !*f->meaning)
        fail_msg("%s %s: no meaning", where, f->name);
    if (f->values && !f->arg)
        fail_msg("%s %s: values for a flag that takes none", where, f->name);
}

static void check_prog(const struct help_prog *p)
{
    size_t n = 0;
    assert_non_null(p->exit_codes[0]);
    assert_non_null(p->exit_codes[2]); /* usage errors: exit 2, everywhere */
    for (const struct help_flag *f = p->common; f->name; f++)
        check_flag(f, p->name);
    for (const struct help_cmd *c = p->cmds; c && c->name; c++, n++) {
        if (!in_list(p->groups, c->group))
            fail_msg("%s %s: group '%s' is not one of the program's", p->name, c->name,
                     c->group);
        if (!*c->summary || !*c->example || !c->synopsis)
            fail_msg("%s %s: a summary, a synopsis and an example, please", p->name, c->name);
        if (strncmp(c->example, p->name, strlen(p->name)) && !strstr(c->example, "| tq "))
            fail_msg("%s %s: the example does not run %s", p->name, c->name, p->name);
        if (!strchr(c->exits, '0') || !strchr(c->exits, '2'))
            fail_msg("%s %s: every command exits 0 and 2", p->name, c->name);
        for (const char *x = c->exits; *x; x++) {
            int k = *x - '0';
            int known = k >= 0 && k <= 9;
            for (int i = 0; known && i <= k; i++)
                known = p->exit_codes[i] != NULL;
            if (!known)
                fail_msg("%s %s: exit code '%c' is not in the table", p->name, c->name, *x);
        }
        for (const struct help_flag *f = c->flags; f->name; f++)
            check_flag(f, c->name);
        /* a name is found by its own words */
        char w0[64], w1[64];
        const char *words[2] = {w0, w1};
        size_t used, k = (size_t)sscanf(c->name, "%63s %63s", w0, w1);
        assert_ptr_equal(help_find(p, words, k, &used), c);
        assert_int_equal(used, k);
    }
    if (p->cmds)
        assert_true(n > 20);
}

static void test_tables(void **state)
{
    check_prog(&tq_help_tq);
    check_prog(&tq_help_worker);
    /* the groups the issue names, in its order */
    const char *want[] = {"jobs", "groups", "queues", "schedules", "limits", "workers",
                          "dead letters", "dashboard"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_string_equal(tq_help_tq.groups[i], want[i]);
    assert_true(help_is_family(&tq_help_tq, "dlq"));
    assert_false(help_is_family(&tq_help_tq, "submit"));
}

static void test_renders(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *w[] = {"dlq", "retry"};
    size_t used;

    assert_non_null(f);
    help_print_cmd(f, &tq_help_tq, help_find(&tq_help_tq, w, 2, &used));
    help_print_man(f, &tq_help_worker, "0.0.0", "2026-01-01");
    assert_int_equal(help_print_completion(f, &tq_help_tq, "fish"), -1);
    assert_int_equal(help_print_completion(f, &tq_help_tq, "zsh"), 0);
    fclose(f);
    assert_contains(buf, "usage: tq dlq retry");
    assert_contains(buf, "--all");
    assert_contains(buf, ".TH TQ\\-WORKER 8 \"2026-01-01\" \"tq 0.0.0\"");
    assert_contains(buf, "#compdef tq");
    /* no line of the text is wider than 80 columns */
    for (char *s = buf, *nl; (nl = strchr(s, '\n')) && strncmp(s, ".TH", 3); s = nl + 1)
        if (nl - s > 80)
            fail_msg("a line of %d columns: %.*s", (int)(nl - s), (int)(nl - s), s);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_renders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
