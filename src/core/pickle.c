/* A reader for pickled lists of str (continuo/pickle.h). It follows the pickle machine
 * only as far as such a list needs: a stack of marks, strings and the one list; a memo of
 * the strings and the list; nothing is ever called or built but those. */
#include "continuo/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "continuo/files.h"

/* Stack and memo entries: a string (its index among the distinct strings), the list, or
 * a mark. */
enum { SLOT_MARK = -1, SLOT_LIST = -2, SLOT_EMPTY = -3 };

typedef struct {
    const uint8_t *p, *end, *start;
    long *stack;               /* (n_stack) */
    size_t n_stack, cap_stack;
    long *memo;                /* (cap_memo) SLOT_EMPTY where unset */
    size_t n_memo, cap_memo;   /* n_memo: MEMOIZE's next index */
    size_t *offsets;           /* (n_strings) where each distinct string starts in text */
    size_t n_strings, cap_strings;
    char *text;
    size_t n_text, cap_text;
    long *items;               /* (n_items) the list, as string indices */
    size_t n_items, cap_items;
    int has_list;
} Reader;

static int grow(void **array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*array, cap2 * size);
    if (!p)
        return -1;
    *array = p;
    *cap = cap2;
    return 0;
}

static int fail_at(const Reader *r, CnError *err, const char *what)
{
    return cn_fail(err, "%s at byte %zu: continuo reads only a pickled list of strings (the "
                        "original project's data/notes)", what,
                   (size_t)(r->p - r->start));
}

static int need(const Reader *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint64_t little_endian(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int push(Reader *r, long slot, CnError *err)
{
    if (r->n_stack >= CN_PICKLE_MAX_ITEMS + 16)
        return fail_at(r, err, "a stack deeper than any list of notes");
    if (grow((void **)&r->stack, &r->cap_stack, r->n_stack + 1, sizeof *r->stack))
        return cn_fail(err, "out of memory");
    r->stack[r->n_stack++] = slot;
    return 0;
}

static int add_string(Reader *r, uint64_t len, CnError *err)
{
    if (len > CN_PICKLE_MAX_STRING) {
        char what[96];
        snprintf(what, sizeof what, "a string of %llu bytes (longer than any token)",
                 (unsigned long long)len);
        return fail_at(r, err, what);
    }
    if (!need(r, (size_t)len))
        return fail_at(r, err, "a string cut off by the end of the file");
    if (memchr(r->p, 0, (size_t)len))
        return fail_at(r, err, "a string holding a NUL byte");
    if (grow((void **)&r->offsets, &r->cap_strings, r->n_strings + 1, sizeof *r->offsets) ||
        grow((void **)&r->text, &r->cap_text, r->n_text + (size_t)len + 1, 1))
        return cn_fail(err, "out of memory");
    r->offsets[r->n_strings] = r->n_text;
    memcpy(r->text + r->n_text, r->p, (size_t)len);
    r->n_text += (size_t)len;
    r->text[r->n_text++] = '\0';
    r->p += len;
    return push(r, (long)r->n_strings++, err);
}

static int append_item(Reader *r, long slot, CnError *err)
{
    if (slot < 0)
        return fail_at(r, err, slot == SLOT_LIST ? "a list inside the list"
                                                 : "something other than a string in the list");
    if (r->n_items >= CN_PICKLE_MAX_ITEMS)
        return fail_at(r, err, "more than a hundred million strings");
    if (grow((void **)&r->items, &r->cap_items, r->n_items + 1, sizeof *r->items))
        return cn_fail(err, "out of memory");
    r->items[r->n_items++] = slot;
    return 0;
}

/* APPEND: the top of the stack into the list below it; APPENDS: everything above the
 * last mark, into the list below the mark. */
static int appends(Reader *r, int many, CnError *err)
{
    size_t from;
    if (many) {
        size_t m = r->n_stack;
        while (m > 0 && r->stack[m - 1] != SLOT_MARK)
            m--;
        if (m == 0)
            return fail_at(r, err, "APPENDS without a mark");
        from = m; /* the items start after the mark at m - 1 */
        if (m < 2 || r->stack[m - 2] != SLOT_LIST)
            return fail_at(r, err, "APPENDS to something other than a list");
    } else {
        if (r->n_stack < 2 || r->stack[r->n_stack - 2] != SLOT_LIST)
            return fail_at(r, err, "APPEND to something other than a list");
        from = r->n_stack - 1;
    }
    for (size_t i = from; i < r->n_stack; i++)
        if (append_item(r, r->stack[i], err))
            return -1;
    r->n_stack = many ? from - 1 : from;
    return 0;
}

static int memo_put(Reader *r, uint64_t index, CnError *err)
{
    if (r->n_stack == 0 || r->stack[r->n_stack - 1] == SLOT_MARK)
        return fail_at(r, err, "a memo entry of nothing");
    /* every memoized object came before: an index beyond them all is not a real pickle's */
    if (index > r->n_strings + 2)
        return fail_at(r, err, "a memo index beyond every object read");
    if (grow((void **)&r->memo, &r->cap_memo, (size_t)index + 1, sizeof *r->memo))
        return cn_fail(err, "out of memory");
    for (size_t i = r->n_memo; i <= index; i++)
        r->memo[i] = SLOT_EMPTY;
    if (index >= r->n_memo)
        r->n_memo = (size_t)index + 1;
    r->memo[index] = r->stack[r->n_stack - 1];
    return 0;
}

static int memo_get(Reader *r, uint64_t index, CnError *err)
{
    if (index >= r->n_memo || r->memo[index] == SLOT_EMPTY)
        return fail_at(r, err, "a memo index never set");
    if (r->memo[index] == SLOT_LIST)
        return fail_at(r, err, "the list referring to itself");
    return push(r, r->memo[index], err);
}

/* One opcode; 1 at STOP. */
static int step(Reader *r, CnError *err)
{
    uint8_t op = *r->p++;
    int width = 0;
    switch (op) {
    case 0x80: /* PROTO */
        if (!need(r, 1))
            return fail_at(r, err, "a cut-off PROTO");
        if (*r->p < 2 || *r->p > 5)
            return fail_at(r, err, "a pickle protocol other than 2 to 5");
        r->p++;
        return 0;
    case 0x95: /* FRAME: an 8-byte length, for readers that buffer */
        if (!need(r, 8))
            return fail_at(r, err, "a cut-off FRAME");
        r->p += 8;
        return 0;
    case ']': /* EMPTY_LIST */
        if (r->has_list)
            return fail_at(r, err, "a second list");
        r->has_list = 1;
        return push(r, SLOT_LIST, err);
    case '(': /* MARK */
        if (r->n_stack == 0 || r->stack[r->n_stack - 1] != SLOT_LIST)
            return fail_at(r, err, "a mark anywhere but after the list");
        return push(r, SLOT_MARK, err);
    case 0x8c: width = 1; goto string; /* SHORT_BINUNICODE */
    case 'X': width = 4; goto string;  /* BINUNICODE */
    case 0x8d: width = 8;              /* BINUNICODE8 */
    string:
        if (!need(r, (size_t)width))
            return fail_at(r, err, "a cut-off string length");
        {
            uint64_t len = little_endian(r->p, width);
            r->p += width;
            return add_string(r, len, err);
        }
    case 'a': return appends(r, 0, err);
    case 'e': return appends(r, 1, err);
    case 0x94: return memo_put(r, r->n_memo, err); /* MEMOIZE */
    case 'q': width = 1; goto put; /* BINPUT */
    case 'r': width = 4;           /* LONG_BINPUT */
    put:
        if (!need(r, (size_t)width))
            return fail_at(r, err, "a cut-off memo index");
        r->p += width;
        return memo_put(r, little_endian(r->p - width, width), err);
    case 'h': width = 1; goto get; /* BINGET */
    case 'j': width = 4;           /* LONG_BINGET */
    get:
        if (!need(r, (size_t)width))
            return fail_at(r, err, "a cut-off memo index");
        r->p += width;
        return memo_get(r, little_endian(r->p - width, width), err);
    case '.': /* STOP */
        if (r->n_stack != 1 || r->stack[0] != SLOT_LIST)
            return fail_at(r, err, "an end with something other than the list left");
        return 1;
    default: {
        char what[64];
        r->p--;
        snprintf(what, sizeof what, "opcode 0x%02x ('%c')", op, op >= 32 && op < 127 ? op : '?');
        return fail_at(r, err, what);
    }
    }
}

static void reader_free(Reader *r)
{
    free(r->stack);
    free(r->memo);
    free(r->offsets);
    free(r->text);
    free(r->items);
}

int cn_pickle_read_strings(const uint8_t *bytes, size_t n, CnStringList *list, CnError *err)
{
    memset(list, 0, sizeof *list);
    Reader r = {.p = bytes, .end = bytes + n, .start = bytes};
    if (n < 2 || bytes[0] != 0x80)
        return cn_fail(err, "not a binary pickle (protocol 2 or later): the original project's "
                            "data/notes is one");
    int rc = 0;
    while (rc == 0 && r.p < r.end)
        rc = step(&r, err);
    if (rc == 0)
        rc = fail_at(&r, err, "the end of the file before STOP");
    if (rc < 0) {
        reader_free(&r);
        return -1;
    }
    list->items = malloc((r.n_items ? r.n_items : 1) * sizeof *list->items);
    if (!list->items) {
        reader_free(&r);
        return cn_fail(err, "out of memory");
    }
    for (size_t i = 0; i < r.n_items; i++)
        list->items[i] = r.text + r.offsets[r.items[i]];
    list->n = r.n_items;
    list->text = r.text;
    list->n_text = r.n_text;
    r.text = NULL;
    reader_free(&r);
    return 0;
}

int cn_pickle_load_strings(const char *path, CnStringList *list, CnError *err)
{
    memset(list, 0, sizeof *list);
    int fd = cn_open_regular(path, err);
    if (fd < 0)
        return cn_fail_context(err, "%s: ", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)2000000000) {
        close(fd);
        return cn_fail(err, "%s: larger than 2 GB, not a list of notes", path);
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *bytes = malloc(n ? n : 1);
    if (!bytes) {
        close(fd);
        return cn_fail(err, "out of memory for %s", path);
    }
    while (got < n) {
        ssize_t r = read(fd, bytes + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = got == n ? cn_pickle_read_strings(bytes, n, list, err)
                      : cn_fail(err, "cannot read all of it");
    free(bytes);
    return rc ? cn_fail_context(err, "%s: ", path) : 0;
}

void cn_string_list_free(CnStringList *list)
{
    free(list->items);
    free(list->text);
    memset(list, 0, sizeof *list);
}
