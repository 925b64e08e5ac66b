/* Recursive descent over RFC 8259 JSON, depth-bounded (json.h). */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end, *start;
    CnError *err;
    int failed;
} Parser;

static JsonValue *fail(Parser *ps, const char *what)
{
    if (!ps->failed)
        cn_fail(ps->err, "the model's JSON configuration is damaged: %s at character %zu",
                what, (size_t)(ps->p - ps->start));
    ps->failed = 1;
    return NULL;
}

static void skip_space(Parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                               *ps->p == '\r'))
        ps->p++;
}

static JsonValue *new_value(Parser *ps, JsonKind kind)
{
    JsonValue *v = calloc(1, sizeof *v);
    if (!v)
        return fail(ps, "out of memory");
    v->kind = kind;
    return v;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A string's text, escapes resolved (\u as UTF-8; a lone surrogate becomes '?'). */
static char *parse_text(Parser *ps)
{
    ps->p++; /* the opening quote */
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    if (!s)
        return (char *)fail(ps, "out of memory");
    for (;;) {
        if (ps->p >= ps->end) {
            free(s);
            return (char *)fail(ps, "a string without its closing quote");
        }
        unsigned char c = (unsigned char)*ps->p++;
        unsigned code = c;
        if (c == '"')
            break;
        if (c < 0x20) {
            free(s);
            return (char *)fail(ps, "a control character inside a string");
        }
        if (c == '\\') {
            if (ps->p >= ps->end) {
                free(s);
                return (char *)fail(ps, "a string without its closing quote");
            }
            char e = *ps->p++;
            switch (e) {
            case '"': case '\\': case '/': code = (unsigned char)e; break;
            case 'b': code = '\b'; break;
            case 'f': code = '\f'; break;
            case 'n': code = '\n'; break;
            case 'r': code = '\r'; break;
            case 't': code = '\t'; break;
            case 'u':
                if (ps->end - ps->p < 4 || hex4(ps->p, &code)) {
                    free(s);
                    return (char *)fail(ps, "a bad \\u escape");
                }
                ps->p += 4;
                if (code == 0) {
                    free(s);
                    return (char *)fail(ps, "a NUL inside a string");
                }
                if (code >= 0xd800 && code <= 0xdfff)
                    code = '?';
                break;
            default:
                free(s);
                return (char *)fail(ps, "an unknown escape");
            }
        }
        if (n + 4 >= cap) {
            char *s2 = realloc(s, cap *= 2);
            if (!s2) {
                free(s);
                return (char *)fail(ps, "out of memory");
            }
            s = s2;
        }
        if (c == '\\' && code >= 0x80) { /* an escaped code point, as UTF-8 */
            if (code < 0x800) {
                s[n++] = (char)(0xc0 | code >> 6);
            } else {
                s[n++] = (char)(0xe0 | code >> 12);
                s[n++] = (char)(0x80 | (code >> 6 & 0x3f));
            }
            s[n++] = (char)(0x80 | (code & 0x3f));
        } else {
            s[n++] = (char)code;
        }
    }
    s[n] = '\0';
    return s;
}

static JsonValue *parse_value(Parser *ps, int depth);

static int add_item(Parser *ps, JsonValue *v, JsonValue *item, char *key, size_t *cap)
{
    if (v->n == *cap) {
        size_t cap2 = *cap ? 2 * *cap : 8;
        JsonValue **items = realloc(v->items, cap2 * sizeof *items);
        if (items)
            v->items = items;
        char **keys = v->kind == JSON_OBJECT ? realloc(v->keys, cap2 * sizeof *keys) : NULL;
        if (keys)
            v->keys = keys;
        if (!items || (v->kind == JSON_OBJECT && !keys)) {
            fail(ps, "out of memory");
            return -1;
        }
        *cap = cap2;
    }
    v->items[v->n] = item;
    if (v->kind == JSON_OBJECT)
        v->keys[v->n] = key;
    v->n++;
    return 0;
}

static JsonValue *parse_container(Parser *ps, int depth, JsonKind kind)
{
    char close = kind == JSON_ARRAY ? ']' : '}';
    JsonValue *v = new_value(ps, kind);
    if (!v)
        return NULL;
    ps->p++;
    skip_space(ps);
    size_t cap = 0;
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_space(ps);
        if (kind == JSON_OBJECT) {
            if (ps->p >= ps->end || *ps->p != '"' || !(key = parse_text(ps))) {
                json_free(v);
                return fail(ps, "an object member without a quoted key");
            }
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                json_free(v);
                return fail(ps, "a key without ':'");
            }
            ps->p++;
        }
        JsonValue *item = parse_value(ps, depth + 1);
        if (!item || add_item(ps, v, item, key, &cap)) {
            free(key);
            json_free(item);
            json_free(v);
            return NULL;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return v;
        }
        json_free(v);
        return fail(ps, kind == JSON_ARRAY ? "an array not closed by ']'"
                                           : "an object not closed by '}'");
    }
}

static JsonValue *parse_word(Parser *ps, const char *word, JsonKind kind)
{
    size_t len = strlen(word);
    if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0)
        return fail(ps, "an unknown word");
    ps->p += len;
    return new_value(ps, kind);
}

static JsonValue *parse_number(Parser *ps)
{
    char buffer[64];
    size_t len = 0;
    while (ps->p + len < ps->end && ps->p[len] && strchr("+-0123456789.eE", ps->p[len]))
        len++;
    if (len >= sizeof buffer)
        return fail(ps, "a number longer than any model's");
    memcpy(buffer, ps->p, len);
    buffer[len] = '\0';
    char *end;
    double d = strtod(buffer, &end);
    if (len == 0 || end != buffer + len)
        return fail(ps, "a bad number");
    ps->p += len;
    JsonValue *v = new_value(ps, JSON_NUMBER);
    if (v)
        v->number = d;
    return v;
}

static JsonValue *parse_value(Parser *ps, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting deeper than any model's");
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail(ps, "the text ends where a value was expected");
    switch (*ps->p) {
    case '{': return parse_container(ps, depth, JSON_OBJECT);
    case '[': return parse_container(ps, depth, JSON_ARRAY);
    case '"': {
        char *s = parse_text(ps);
        JsonValue *v = s ? new_value(ps, JSON_STRING) : NULL;
        if (!v) {
            free(s);
            return NULL;
        }
        v->string = s;
        return v;
    }
    case 't': return parse_word(ps, "true", JSON_TRUE);
    case 'f': return parse_word(ps, "false", JSON_FALSE);
    case 'n': return parse_word(ps, "null", JSON_NULL);
    case 'N': { /* Python's json writes these */
        JsonValue *v = parse_word(ps, "NaN", JSON_NUMBER);
        if (v)
            v->number = NAN;
        return v;
    }
    default: return parse_number(ps);
    }
}

int json_parse(const char *text, size_t n, JsonValue **root, CnError *err)
{
    Parser ps = {.p = text, .end = text + n, .start = text, .err = err};
    *root = parse_value(&ps, 0);
    if (!*root)
        return -1;
    skip_space(&ps);
    if (ps.p != ps.end) {
        json_free(*root);
        *root = NULL;
        fail(&ps, "text after the configuration");
        return -1;
    }
    return 0;
}

void json_free(JsonValue *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
    free(v);
}

const JsonValue *json_get(const JsonValue *v, const char *key)
{
    if (!v || v->kind != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *json_get_string(const JsonValue *v, const char *key)
{
    const JsonValue *m = json_get(v, key);
    return m && m->kind == JSON_STRING ? m->string : NULL;
}

double json_get_number(const JsonValue *v, const char *key, double fallback)
{
    const JsonValue *m = json_get(v, key);
    return m && m->kind == JSON_NUMBER ? m->number : fallback;
}

int json_whole(const JsonValue *v, long min, long max, long *out)
{
    if (!v)
        return 0;
    if (v->kind != JSON_NUMBER || !(v->number >= (double)min && v->number <= (double)max) ||
        v->number != floor(v->number))
        return -1;
    *out = (long)v->number;
    return 1;
}

void json_describe(const JsonValue *v, char *out, size_t size)
{
    if (!v)
        snprintf(out, size, "nothing");
    else if (v->kind == JSON_NUMBER)
        snprintf(out, size, "%.17g", v->number);
    else if (v->kind == JSON_STRING)
        snprintf(out, size, "the string \"%.40s\"", v->string);
    else
        snprintf(out, size, "%s", v->kind == JSON_NULL    ? "null"
                                  : v->kind == JSON_ARRAY ? "a list"
                                  : v->kind == JSON_OBJECT ? "an object"
                                                           : "true or false");
}

int json_get_bool(const JsonValue *v, const char *key, int fallback)
{
    const JsonValue *m = json_get(v, key);
    return m && m->kind == JSON_TRUE ? 1 : m && m->kind == JSON_FALSE ? 0 : fallback;
}
