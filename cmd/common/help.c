/* help.c -- renders a program's help table (help.h): the --help text, the
 * man page, the bash and zsh completion scripts, and "did you mean".
 *
 * Nothing here knows tq's commands: cmd/tq/help.c and cmd/tq-worker/help.c
 * hold the data. The completion scripts share one POSIX-sh core (it runs in
 * bash, and in zsh under `emulate -L sh`) that turns the words typed so far
 * into candidates; each shell's wrapper only feeds it and hands back what it
 * prints. Names from Redis come from `tq ... --json`, with a 2 s timeout and
 * silence on failure.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/common/help.h"

/* ---------------------------------------------------------------- did you mean */

int help_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int rows[3][100], *pp, *prev, *row;

    if (la > 99 || lb > 99)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        rows[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        pp = rows[(i + 1) % 3];  /* row i-2 (row i is rows[i % 3]) */
        prev = rows[(i + 2) % 3]; /* row i-1 */
        row = rows[i % 3];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < best)
                best = pp[j - 2] + 1; /* two letters swapped: one edit */
            row[j] = best;
        }
    }
    return rows[la % 3][lb];
}

const char *help_nearest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int bd = 99;
    size_t len = strlen(word);

    for (size_t i = 0; i < n; i++) {
        int d = help_distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    if (!best || bd > 2 || (size_t)bd * 2 >= len)
        return NULL;
    return best;
}

/* ---------------------------------------------------------------- lookup */

/* Whether name is word alone or "word ..." (then *rest: what follows). */
static int head_is(const char *name, const char *word, const char **rest)
{
    size_t n = strlen(word);
    if (strncmp(name, word, n) || (name[n] && name[n] != ' '))
        return 0;
    *rest = name[n] ? name + n + 1 : NULL;
    return 1;
}

const struct help_cmd *help_find(const struct help_prog *p, const char *const *words,
                                 size_t n, size_t *used)
{
    const char *rest;

    if (!p->cmds || n == 0)
        return NULL;
    for (const struct help_cmd *c = p->cmds; c->name; c++) {
        if (!head_is(c->name, words[0], &rest))
            continue;
        if (!rest) {
            *used = 1;
            return c;
        }
        if (n > 1 && !strcmp(rest, words[1])) {
            *used = 2;
            return c;
        }
    }
    return NULL;
}

int help_is_family(const struct help_prog *p, const char *word)
{
    const char *rest;
    for (const struct help_cmd *c = p->cmds; c && c->name; c++)
        if (head_is(c->name, word, &rest) && rest)
            return 1;
    return 0;
}

/* ---------------------------------------------------------------- text */

#define WIDTH 79
#define COL 28

/* Writes text from column col, wrapped at WIDTH, continuation lines at col;
 * a \x01 is a space that does not break. */
static void wrap(FILE *f, const char *text, int col, int at)
{
    while (*text) {
        if (text[0] == '\n' && text[1] == '\n') { /* a new paragraph */
            fprintf(f, "\n\n%*s", col, "");
            at = col;
            text += 2;
            continue;
        }
        if (*text == ' ' || *text == '\n') {
            text++;
            continue;
        }
        size_t w = strcspn(text, " \n");
        if (at > col && at + 1 + (int)w > WIDTH) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        for (size_t i = 0; i < w; i++) /* \x01: a space that does not break */
            fputc(text[i] == '\x01' ? ' ' : text[i], f);
        at += (int)w;
        text += w;
    }
    fputc('\n', f);
}

/* "  left" then the text at COL (on the next line if left is too long). */
static void item(FILE *f, const char *left, const char *text)
{
    int at = fprintf(f, "  %s", left);
    if (at + 2 > COL) {
        fprintf(f, "\n%*s", COL, "");
    } else {
        fprintf(f, "%*s", COL - at, "");
    }
    wrap(f, text, COL, COL);
}

static void flag_item(FILE *f, const struct help_flag *fl)
{
    char left[128], text[1024];
    snprintf(left, sizeof left, "%s%s%s", fl->name, fl->arg ? " " : "", fl->arg ? fl->arg : "");
    snprintf(text, sizeof text, "%s%s%s%s", fl->meaning, fl->def ? " (default: " : "",
             fl->def ? fl->def : "", fl->def ? ")" : "");
    item(f, left, text);
}

static void put_exits(FILE *f, const struct help_prog *p, const char *codes)
{
    for (int i = 0; p->exit_codes[i]; i++) {
        if (codes && !strchr(codes, '0' + i))
            continue;
        fprintf(f, "  %d  ", i);
        wrap(f, p->exit_codes[i], 5, 5);
    }
}

static void put_env(FILE *f, const char *env)
{
    while (env && *env) {
        const char *tab = strchr(env, '\t'), *nl = strchr(env, '\n');
        char left[64], text[512];
        if (!tab || !nl)
            break;
        snprintf(left, sizeof left, "%.*s", (int)(tab - env), env);
        snprintf(text, sizeof text, "%.*s", (int)(nl - tab - 1), tab + 1);
        item(f, left, text);
        env = nl + 1;
    }
}

void help_print_overview(FILE *f, const struct help_prog *p)
{
    fprintf(f, "usage: %s ", p->name);
    wrap(f, p->synopsis, 8 + (int)strlen(p->name), 8 + (int)strlen(p->name));
    fputc('\n', f);
    if (!p->cmds) {
        wrap(f, p->description, 0, 0);
        fputs("\nflags:\n", f);
        for (const struct help_flag *fl = p->common; fl->name; fl++)
            flag_item(f, fl);
    }
    for (int g = 0; p->groups && p->groups[g]; g++) {
        fprintf(f, "%s:\n", p->groups[g]);
        for (const struct help_cmd *c = p->cmds; c->name; c++) {
            char left[160];
            if (strcmp(c->group, p->groups[g]))
                continue;
            snprintf(left, sizeof left, "%s%s%s", c->name, *c->synopsis ? " " : "",
                     c->synopsis);
            item(f, left, c->summary);
        }
        fputc('\n', f);
    }
    if (p->cmds) {
        fputs("common flags:\n", f);
        for (const struct help_flag *fl = p->common; fl->name; fl++)
            flag_item(f, fl);
    }
    fputs("\nexit codes:\n", f);
    put_exits(f, p, NULL);
    if (p->environment) {
        fputs("\nenvironment:\n", f);
        put_env(f, p->environment);
    }
    fputc('\n', f);
    wrap(f, p->notes, 0, 0);
    if (p->cmds)
        fprintf(f, "'%s help COMMAND' or '%s COMMAND --help': a command's flags, "
                "defaults, exit codes and an example.\n", p->name, p->name);
}

void help_print_cmd(FILE *f, const struct help_prog *p, const struct help_cmd *c)
{
    fprintf(f, "usage: %s %s%s%s\n\n", p->name, c->name, *c->synopsis ? " " : "",
            c->synopsis);
    wrap(f, c->summary, 0, 0);
    if (c->flags[0].name) {
        fputs("\nflags:\n", f);
        for (const struct help_flag *fl = c->flags; fl->name; fl++)
            flag_item(f, fl);
    }
    char common[1024];
    size_t at = 0;
    for (const struct help_flag *fl = p->common; fl->name && at < sizeof common; fl++)
        at += (size_t)snprintf(common + at, sizeof common - at, "%s%s%s%s",
                               fl->name, fl->arg ? "\x01" : "", fl->arg ? fl->arg : "",
                               fl[1].name ? "; " : "");
    fputs("\ncommon flags (", f);
    fputs(p->name, f);
    fputs(" --help):\n  ", f);
    wrap(f, common, 2, 2);
    fputs("\nexit codes:\n", f);
    put_exits(f, p, c->exits);
    fprintf(f, "\nexample:\n  %s\n", c->example);
}

void help_print_family(FILE *f, const struct help_prog *p, const char *family)
{
    const char *rest;
    int first = 1;
    for (const struct help_cmd *c = p->cmds; c->name; c++) {
        if (!head_is(c->name, family, &rest))
            continue;
        if (!first)
            fputc('\n', f);
        help_print_cmd(f, p, c);
        first = 0;
    }
}

/* ---------------------------------------------------------------- man page */

/* Roff-escaped text: backslashes, hyphens as minus signs, and a line's
 * leading dot or quote kept from being a request. With line_start (text, not
 * a macro's argument) the source lines are also kept under 80 bytes: roff
 * fills them again. */
static void roff(FILE *f, const char *s, int line_start)
{
    int text = line_start, col = 0;
    for (; *s; s++) {
        if (text && *s == ' ' && col + 2 * (int)strcspn(s + 1, " \n") > 76) {
            fputc('\n', f);
            col = 0;
            line_start = 1;
            continue;
        }
        if (line_start && (*s == '.' || *s == '\''))
            col += fprintf(f, "\\&");
        line_start = 0;
        if (*s == '\\')
            col += fprintf(f, "\\e");
        else if (*s == '-')
            col += fprintf(f, "\\-");
        else if (*s == '\n') {
            fputc('\n', f);
            line_start = text;
            col = 0;
        } else {
            fputc(*s, f);
            col++;
        }
    }
}

/* Paragraphs separated by blank lines; the first needs no .PP (it follows
 * a .SH). */
static void man_paras(FILE *f, const char *text)
{
    while (*text) {
        const char *end = strstr(text, "\n\n");
        size_t n = end ? (size_t)(end - text) : strlen(text);
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s", (int)n, text);
        roff(f, buf, 1);
        fputc('\n', f);
        if (!end)
            break;
        fputs(".PP\n", f);
        text = end + 2;
    }
}

static void man_flag(FILE *f, const struct help_flag *fl)
{
    fputs(".TP\n", f);
    fputs(fl->arg ? ".BI \"" : ".B \"", f);
    roff(f, fl->name, 0);
    if (fl->arg) {
        fputs(" \" \"", f);
        roff(f, fl->arg, 0);
    }
    fputs("\"\n", f);
    char text[1024];
    snprintf(text, sizeof text, "%s%s%s%s", fl->meaning, fl->def ? " (default: " : "",
             fl->def ? fl->def : "", fl->def ? ")" : "");
    roff(f, text, 1);
    fputc('\n', f);
}

static void man_upper(FILE *f, const char *s)
{
    for (; *s; s++)
        if (*s == '-')
            fputs("\\-", f);
        else
            fputc((*s >= 'a' && *s <= 'z') ? *s - 32 : *s, f);
}

void help_print_man(FILE *f, const struct help_prog *p, const char *version,
                    const char *date)
{
    fputs(".\\\" generated from the help table of ", f);
    fputs(p->name, f);
    fputs(" (cmd/common/help.c); do not edit\n.TH ", f);
    man_upper(f, p->name);
    fprintf(f, " %s \"%s\" \"tq %s\" \"tq manual\"\n", p->section, date, version);
    fputs(".SH NAME\n", f);
    roff(f, p->name, 0);
    fputs(" \\- ", f);
    roff(f, p->title, 0);
    fputs("\n.SH SYNOPSIS\n.B ", f);
    roff(f, p->name, 0);
    fputc('\n', f);
    roff(f, p->synopsis, 1);
    fputs("\n.SH DESCRIPTION\n", f);
    man_paras(f, p->description);
    if (p->cmds) {
        fputs(".SH COMMANDS\n", f);
        for (int g = 0; p->groups && p->groups[g]; g++) {
            fputs(".SS ", f);
            roff(f, p->groups[g], 0);
            fputc('\n', f);
            for (const struct help_cmd *c = p->cmds; c->name; c++) {
                if (strcmp(c->group, p->groups[g]))
                    continue;
                fputs(".TP\n\\fB", f);
                roff(f, p->name, 0);
                fputc(' ', f);
                roff(f, c->name, 0);
                fputs(*c->synopsis ? "\\fR " : "\\fR", f);
                roff(f, c->synopsis, 0);
                fputs("\n", f);
                roff(f, c->summary, 1);
                fputs(".\n.RS\n", f);
                for (const struct help_flag *fl = c->flags; fl->name; fl++)
                    man_flag(f, fl);
                fputs(".PP\nExit codes: ", f);
                for (const char *x = c->exits; *x; x++)
                    fprintf(f, "%c%s", *x, x[1] ? ", " : ".\n");
                fputs(".br\nExample:\n.nf\n", f);
                roff(f, c->example, 1);
                fputs("\n.fi\n.RE\n", f);
            }
        }
        fputs(".SH OPTIONS\nThese flags apply to every command.\n", f);
    } else {
        fputs(".SH OPTIONS\n", f);
    }
    for (const struct help_flag *fl = p->common; fl->name; fl++)
        man_flag(f, fl);
    fputs(".SH EXIT STATUS\n", f);
    for (int i = 0; p->exit_codes[i]; i++) {
        fprintf(f, ".TP\n.B %d\n", i);
        roff(f, p->exit_codes[i], 1);
        fputc('\n', f);
    }
    if (p->environment) {
        const char *env = p->environment;
        fputs(".SH ENVIRONMENT\n", f);
        while (*env) {
            const char *tab = strchr(env, '\t'), *nl = strchr(env, '\n');
            char buf[512];
            if (!tab || !nl)
                break;
            snprintf(buf, sizeof buf, "%.*s", (int)(tab - env), env);
            fputs(".TP\n.B ", f);
            roff(f, buf, 0);
            snprintf(buf, sizeof buf, "%.*s", (int)(nl - tab - 1), tab + 1);
            fputc('\n', f);
            roff(f, buf, 1);
            fputc('\n', f);
            env = nl + 1;
        }
    }
    fputs(".SH NOTES\n", f);
    man_paras(f, p->notes);
    fputs(".SH EXAMPLES\n.nf\n", f);
    roff(f, p->example, 1);
    fputs("\n.fi\n.SH SEE ALSO\n", f);
    if (p->cmds)
        fputs(".BR tq\\-worker (8),\n.BR libtq (3)\n", f);
    else
        fputs(".BR tq (1),\n.BR libtq (3)\n", f);
}

/* ---------------------------------------------------------------- completion */

/* Writes t with every "@P@" replaced by the function prefix. */
static void tmpl(FILE *f, const char *t, const char *pfx)
{
    const char *at;
    while ((at = strstr(t, "@P@"))) {
        fwrite(t, 1, (size_t)(at - t), f);
        fputs(pfx, f);
        t = at + 3;
    }
    fputs(t, f);
}

/* Each name of "-f, --follow" on its own, space before each. */
static void names(FILE *f, const char *name)
{
    while (*name) {
        size_t n = strcspn(name, ",");
        fprintf(f, " %.*s", (int)n, name);
        name += n;
        while (*name == ',' || *name == ' ')
            name++;
    }
}

static const char core[] =
    "# The words typed so far, the last being the one completed -> candidates,\n"
    "# one a line (\"@file\" / \"@dir\": the shell's own file completion).\n"
    "@P@_candidates() {\n"
    "    [ -n \"${ZSH_VERSION-}\" ] && emulate -L sh\n"
    "    local bin=\"$1\" cur cmd= sub= skip= w spec c r= n= p=\n"
    "    shift\n"
    "    eval \"cur=\\${$#}\"\n"
    "    while [ $# -gt 1 ]; do\n"
    "        w=$1\n"
    "        shift\n"
    "        if [ -n \"$skip\" ]; then\n"
    "            case $skip in\n"
    "            --redis) r=$w ;;\n"
    "            --namespace) n=$w ;;\n"
    "            --redis-password-file) p=$w ;;\n"
    "            esac\n"
    "            skip=\n"
    "            continue\n"
    "        fi\n"
    "        case $w in\n"
    "        --) ;;\n"
    "        -*) case \" $@P@_valued \" in *\" $w \"*) skip=$w ;; esac ;;\n"
    "        *)\n"
    "            if [ -z \"$cmd\" ]; then\n"
    "                cmd=$w\n"
    "            elif [ -z \"$sub\" ]; then\n"
    "                case \" $@P@_families \" in *\" $cmd \"*) sub=$w ;; esac\n"
    "            fi ;;\n"
    "        esac\n"
    "    done\n"
    "    local key=\"$cmd\"\n"
    "    [ -n \"$sub\" ] && key=\"$cmd $sub\"\n"
    "    if [ -n \"$skip\" ]; then\n"
    "        spec=$(@P@_values \"$skip\")\n"
    "    else\n"
    "        case $cur in\n"
    "        -*) spec=\"$(@P@_flags \"$key\") $@P@_common\" ;;\n"
    "        *)\n"
    "            if [ -z \"$cmd\" ]; then\n"
    "                spec=$@P@_cmds\n"
    "            elif [ -z \"$sub\" ] && case \" $@P@_families \" in *\" $cmd \"*) true ;; *) false ;; esac; then\n"
    "                spec=$(@P@_subs \"$cmd\")\n"
    "            else\n"
    "                spec=$(@P@_pos \"$key\")\n"
    "            fi ;;\n"
    "        esac\n"
    "    fi\n"
    "    case $spec in\n"
    "    @file|@dir) echo \"$spec\"; return ;;\n"
    "    @command) spec=$@P@_cmds ;;\n"
    "    @*) spec=$(@P@_names \"${spec#@}\" \"$bin\" \"$r\" \"$n\" \"$p\") ;;\n"
    "    esac\n"
    "    for c in $spec; do\n"
    "        case $c in \"$cur\"*) echo \"$c\" ;; esac\n"
    "    done\n"
    "}\n"
    "\n"
    "# Names from Redis through `tq ... --json`: 2 s at most, silent on failure.\n"
    "@P@_names() {\n"
    "    [ -n \"${ZSH_VERSION-}\" ] && emulate -L sh\n"
    "    local kind=\"$1\" bin=\"$2\" r=\"$3\" n=\"$4\" p=\"$5\" key=name\n"
    "    set --\n"
    "    [ -n \"$r\" ] && set -- \"$@\" --redis \"$r\"\n"
    "    [ -n \"$n\" ] && set -- \"$@\" --namespace \"$n\"\n"
    "    [ -n \"$p\" ] && set -- \"$@\" --redis-password-file \"$p\"\n"
    "    case $kind in\n"
    "    queue) set -- \"$@\" stats --json; key=queue ;;\n"
    "    schedule) set -- \"$@\" schedule list --json ;;\n"
    "    ratelimit) set -- \"$@\" ratelimit show --json ;;\n"
    "    semaphore) set -- \"$@\" semaphore show --json ;;\n"
    "    *) return 0 ;;\n"
    "    esac\n"
    "    timeout 2 \"$bin\" \"$@\" </dev/null 2>/dev/null | tr ',{[' '\\n\\n\\n' |\n"
    "        sed -n 's/^ *\"'\"$key\"'\": *\"\\([^\"]*\\)\".*/\\1/p' | sort -u\n"
    "}\n";

static void gen_case(FILE *f, const char *pfx, const char *fn, const struct help_prog *p,
                     int what)
{
    fprintf(f, "%s_%s() {\n    case \"$1\" in\n", pfx, fn);
    if (what == 2) { /* values of a flag */
        const struct help_flag *lists[2] = {p->common, NULL};
        for (const struct help_flag *fl = p->common; fl->name; fl++)
            if (fl->values && fl->arg)
                fprintf(f, "    %s) echo '%s' ;;\n", fl->name, fl->values);
        for (const struct help_cmd *c = p->cmds; c && c->name; c++)
            for (const struct help_flag *fl = c->flags; fl->name; fl++) {
                int seen = 0;
                if (!fl->values || !fl->arg)
                    continue;
                /* the first definition wins: the same flag, the same values */
                for (const struct help_cmd *d = p->cmds; d != c && !seen; d++)
                    for (const struct help_flag *g = d->flags; g->name && !seen; g++)
                        seen = !strcmp(g->name, fl->name);
                for (const struct help_flag *g = lists[0]; g->name && !seen; g++)
                    seen = !strcmp(g->name, fl->name);
                if (!seen)
                    fprintf(f, "    %s) echo '%s' ;;\n", fl->name, fl->values);
            }
    }
    for (const struct help_cmd *c = p->cmds; what != 2 && c && c->name; c++) {
        if (what == 0) {
            fprintf(f, "    '%s') echo '", c->name);
            for (const struct help_flag *fl = c->flags; fl->name; fl++)
                names(f, fl->name);
            fputs("' ;;\n", f);
        } else if (what == 1) {
            const char *sp = strchr(c->name, ' ');
            int first = 1;
            if (!sp || (c != p->cmds && !strncmp(c[-1].name, c->name, (size_t)(sp - c->name) + 1)))
                continue;
            fprintf(f, "    '%.*s') echo '", (int)(sp - c->name), c->name);
            for (const struct help_cmd *d = c; d->name && !strncmp(d->name, c->name,
                                                                 (size_t)(sp - c->name) + 1); d++) {
                fprintf(f, "%s%s", first ? "" : " ", d->name + (sp - c->name) + 1);
                first = 0;
            }
            fputs("' ;;\n", f);
        } else if (what == 3 && c->complete) {
            fprintf(f, "    '%s') echo '%s' ;;\n", c->name, c->complete);
        }
    }
    fputs("    esac\n}\n", f);
}

static void gen_common(FILE *f, const struct help_prog *p, const char *pfx)
{
    fprintf(f, "%s_cmds='", pfx);
    for (const struct help_cmd *c = p->cmds; c && c->name; c++) {
        const char *sp = strchr(c->name, ' ');
        if (sp && c != p->cmds && !strncmp(c[-1].name, c->name, (size_t)(sp - c->name) + 1))
            continue;
        fprintf(f, "%s%.*s", c == p->cmds ? "" : " ",
                sp ? (int)(sp - c->name) : (int)strlen(c->name), c->name);
    }
    fprintf(f, "'\n%s_families='", pfx);
    for (const struct help_cmd *c = p->cmds; c && c->name; c++) {
        const char *sp = strchr(c->name, ' ');
        if (sp && (c == p->cmds || strncmp(c[-1].name, c->name, (size_t)(sp - c->name) + 1)))
            fprintf(f, " %.*s", (int)(sp - c->name), c->name);
    }
    fprintf(f, "'\n%s_common='", pfx);
    for (const struct help_flag *fl = p->common; fl->name; fl++)
        names(f, fl->name);
    fprintf(f, "'\n# the flags that take a value\n%s_valued='", pfx);
    for (const struct help_flag *fl = p->common; fl->name; fl++)
        if (fl->arg)
            names(f, fl->name);
    for (const struct help_cmd *c = p->cmds; c && c->name; c++)
        for (const struct help_flag *fl = c->flags; fl->name; fl++) {
            int seen = 0; /* each once: the first command that has it */
            for (const struct help_cmd *d = p->cmds; d != c && !seen; d++)
                for (const struct help_flag *g = d->flags; g->name && !seen; g++)
                    seen = g->arg && !strcmp(g->name, fl->name);
            if (fl->arg && !seen)
                names(f, fl->name);
        }
    fputs("'\n", f);
    gen_case(f, pfx, "flags", p, 0);
    gen_case(f, pfx, "subs", p, 1);
    gen_case(f, pfx, "values", p, 2);
    gen_case(f, pfx, "pos", p, 3);
    tmpl(f, core, pfx);
}

int help_print_completion(FILE *f, const struct help_prog *p, const char *shell)
{
    char pfx[64];
    int is_tq = !strcmp(p->name, "tq");

    snprintf(pfx, sizeof pfx, "_%s", p->name);
    for (char *s = pfx; *s; s++)
        if (*s == '-')
            *s = '_';
    if (!strcmp(shell, "bash")) {
        fprintf(f, "# bash completion for %s -- generated from its help table "
                "(cmd/common/help.c); do not edit\n\n", p->name);
        gen_common(f, p, pfx);
        fprintf(f, "\n%s() {\n"
                "    local line=\"${COMP_LINE:0:COMP_POINT}\" c words\n"
                "    read -r -a words <<< \"$line\"\n"
                "    [[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=(\"\")\n"
                "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" bin=%s\n"
                "    COMPREPLY=()\n"
                "    while IFS= read -r c; do\n"
                "        case $c in\n"
                "        @file) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
                "        @dir) COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n"
                "        *) COMPREPLY+=(\"$c\") ;;\n"
                "        esac\n"
                "    done < <(%s_candidates \"$bin\" \"${words[@]:1}\")\n"
                "}\n"
                "complete -F %s %s\n",
                pfx, is_tq ? "\"${words[0]:-tq}\"" : "tq", pfx, pfx, p->name);
        return 0;
    }
    if (!strcmp(shell, "zsh")) {
        fprintf(f, "#compdef %s\n# zsh completion for %s -- generated from its help "
                "table (cmd/common/help.c); do not edit\n\n", p->name, p->name);
        gen_common(f, p, pfx);
        fprintf(f, "\n%s() {\n"
                "    local -a cands\n"
                "    local bin=%s\n"
                "    cands=(\"${(@f)$(%s_candidates \"$bin\" \"${(@)words[2,CURRENT]}\")}\")\n"
                "    case ${cands[1]-} in\n"
                "    @file) _files ;;\n"
                "    @dir) _files -/ ;;\n"
                "    '') return 1 ;;\n"
                "    *) compadd -a cands ;;\n"
                "    esac\n"
                "}\n"
                "\n"
                "# autoloaded by compinit: define, then complete; sourced: define only\n"
                "if [[ ${zsh_eval_context[-1]-} == loadautofunc ]]; then\n"
                "    %s \"$@\"\n"
                "fi\n",
                pfx, is_tq ? "\"${words[1]:-tq}\"" : "tq", pfx, pfx);
        return 0;
    }
    return -1;
}
