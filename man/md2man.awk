#!/usr/bin/awk -f
# md2man.awk -- docs/api.md (the Markdown we write) to a man page, for libtq(3).
#
#   awk -v title=LIBTQ -v section=3 -v version=0.1.0 -v date=2026-11-29 \
#       -v name="libtq" -v summary="..." -f man/md2man.awk docs/api.md
#
# Our own small converter rather than pandoc (a large Haskell toolchain) or
# ronn (Ruby), for the subset docs/api.md uses: # headings, paragraphs,
# "- " lists (with continuation lines), ``` fences, | tables |, `code`,
# **bold**, [text](link). The first "# " heading becomes NAME; "## " are
# sections, "### " subsections. Anything else passes as plain text.

function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    return s
}

# Inline Markdown: `code` bold, **x** bold, [text](url) -> text.
function inline(s,    out, m) {
    s = esc(s)
    while (match(s, /\[[^]]*\]\([^)]*\)/)) {
        m = substr(s, RSTART, RLENGTH)
        sub(/\]\([^)]*\)$/, "", m)
        s = substr(s, 1, RSTART - 1) substr(m, 2) substr(s, RSTART + RLENGTH)
    }
    while (match(s, /\*\*[^*]+\*\*/))
        s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 2, RLENGTH - 4) "\\fR" \
            substr(s, RSTART + RLENGTH)
    while (match(s, /`[^`]+`/))
        s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR" \
            substr(s, RSTART + RLENGTH)
    return s
}

# A text line, broken at spaces under 80 bytes (roff fills it again); a
# leading dot or quote must not read as a request.
function text(s,    cut) {
    while (length(s) > 72) {
        cut = 72
        while (cut > 1 && substr(s, cut, 1) != " ")
            cut--
        if (cut <= 1)
            break
        emit(substr(s, 1, cut - 1))
        s = substr(s, cut + 1)
    }
    emit(s)
}
function emit(s) {
    if (s ~ /^[.']/)
        s = "\\&" s
    print s
}

# A row of a | table |: its first cell tagged, the others after it.
function row(r,    n, cell, i, rest) {
    sub(/^[ \t]*\| */, "", r)
    sub(/ *\|$/, "", r)
    n = split(r, cell, / *\| */)
    print ".TP"
    text(inline(cell[1]))
    rest = ""
    for (i = 2; i <= n; i++)
        rest = rest (i > 2 ? "; " : "") cell[i]
    text(inline(rest))
}

BEGIN {
    printf ".\\\" generated from docs/api.md by man/md2man.awk; do not edit\n"
    printf ".TH %s %s \"%s\" \"tq %s\" \"tq manual\"\n", title, section, date, version
    infence = 0; named = 0; para = 0
}

infence {
    if ($0 ~ /^```/) {
        print ".fi"
        print ".RE"
        infence = 0
        para = 0
        next
    }
    line = esc($0)
    if (line ~ /^[.']/)
        line = "\\&" line
    print line
    next
}

/^```/ {
    if (para || !fresh)
        print ".PP"
    fresh = 0
    print ".RS 4"
    print ".nf"
    infence = 1
    next
}

/^# / {
    if (!named) {
        print ".SH NAME"
        print name " \\- " esc(summary)
        named = 1
        para = 0
        print ".SH DESCRIPTION"
        fresh = 1
    }
    next
}

/^## / { sub(/^## /, ""); print ".SH \"" toupper(esc($0)) "\""; para = 0; fresh = 1; next }
/^### / { sub(/^### /, ""); print ".SS \"" esc($0) "\""; para = 0; fresh = 1; next }

# A table's first row is its header: dropped when the separator follows.
/^[ \t]*\|/ {
    if ($0 ~ /^[ \t]*\|[-| :]+\|$/) {
        head = ""
        next
    }
    if (!intable) {
        intable = 1
        head = $0
        next
    }
    if (head != "")
        row(head)
    head = ""
    row($0)
    para = 1
    fresh = 0
    next
}

intable {
    if (head != "")
        row(head)
    intable = 0
    head = ""
}

/^- / {
    fresh = 0
    sub(/^- /, "")
    print ".IP \\(bu 2"
    text(inline($0))
    para = 1
    next
}

/^[ \t]*$/ { para = 0; next }

{
    line = $0
    sub(/^[ \t]+/, "", line)
    if (!para && !fresh)
        print ".PP"
    para = 1
    fresh = 0
    text(inline(line))
}

END {
    print ".SH \"SEE ALSO\""
    print ".BR tq (1),"
    print ".BR tq\\-worker (8),"
    print ".BR pkg\\-config (1)"
}
