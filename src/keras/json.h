/* A small JSON reader for the model configuration Keras stores in its files: the whole
 * text into a tree of values, bounded in depth and size. Internal to the Keras import. */
#ifndef CONTINUO_JSON_H
#define CONTINUO_JSON_H

#include <stddef.h>

#include "continuo/status.h"

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY,
               JSON_OBJECT } JsonKind;

typedef struct JsonValue {
    JsonKind kind;
    double number;
    char *string;              /* JSON_STRING: NUL-terminated (a NUL inside is refused) */
    struct JsonValue **items;  /* JSON_ARRAY, JSON_OBJECT: (n) values */
    char **keys;               /* JSON_OBJECT: (n) their keys */
    size_t n;
} JsonValue;

/* Parses text (n bytes); *root receives the tree (json_free it). */
int json_parse(const char *text, size_t n, JsonValue **root, CnError *err);
void json_free(JsonValue *v);

/* The member key of an object, or NULL (also when v is not an object). */
const JsonValue *json_get(const JsonValue *v, const char *key);
/* The string member key, or NULL. */
const char *json_get_string(const JsonValue *v, const char *key);
/* v as a whole number in min..max into *out: 1; 0 when v is NULL; -1 when v is anything
 * else (a string, a fraction, a number out of range). */
int json_whole(const JsonValue *v, long min, long max, long *out);
/* What v is, for a message: the number, the string, "null", "a list"... */
void json_describe(const JsonValue *v, char *out, size_t size);

/* The number member key, or fallback. */
double json_get_number(const JsonValue *v, const char *key, double fallback);
/* The boolean member key: 1, 0, or fallback when absent or not a boolean. */
int json_get_bool(const JsonValue *v, const char *key, int fallback);

#endif
