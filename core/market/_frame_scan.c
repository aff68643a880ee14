/* A diff-depth frame in Binance's own layout, read in one pass: core.market._frame_scan.scan_depth_update.
 *
 * parse_stream_message (core/market/wire.py) is the specification: orjson parses the frame, then every level is
 * checked against the LEVEL RULES (one regular expression over the raw text for a clean frame). This reads only
 * the layout Binance writes, without a space,
 *
 *     {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":2,"u":3,"b":[...],"a":[...]}}
 *
 * or the same object alone (a raw /ws connection): members whose values are plain strings or integers (futures
 * add "T" and "pu"), then "b" and "a" last, each level ["price","quantity"] by the LEVEL RULES. It builds the
 * strings and lists orjson would, and returns None for anything else (another layout, an escape, a float, a
 * repeated member, a level that breaks a rule, a malformed frame): the specification's path reads those and says
 * what is wrong. So it never accepts a frame that path refuses or reads differently; tests/core/market/
 * test_frame_scan.py and the wire-updates fuzz target compare the two on hostile frames.
 *
 * The answer is the event itself once wire.py has named its class (`use_event_type`: a slots class whose fields are
 * written here, as its __init__ would, without running Python), else the tuple of its fields.
 *
 * Why: orjson's dict of lists, the regular expression over the same bytes and the dict lookups after them were the
 * largest part of a frame's parse at whole-market load (docs/PERFORMANCE.md, session 15).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#define DECIMALS 8
#define MAX_DIGITS 20     /* the LEVEL RULES: 1 to 20 digits on either side of the dot */
#define MAX_INT_DIGITS 18 /* an id or a time: below 2^63, exactly as orjson reads it */

typedef struct {
    const char *p, *end;
} Cursor;

static int take(Cursor *c, const char *literal, Py_ssize_t n)
{
    if (c->end - c->p < n || memcmp(c->p, literal, (size_t)n) != 0)
        return 0;
    c->p += n;
    return 1;
}

#define TAKE(c, s) take((c), (s), (Py_ssize_t)(sizeof(s) - 1))

/* A JSON string of printable ASCII without escapes, its quotes consumed; *start and *len its text. */
static int plain_string(Cursor *c, const char **start, Py_ssize_t *len)
{
    if (c->p >= c->end || *c->p != '"')
        return 0;
    const char *s = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return 0;
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    *start = s;
    *len = c->p - s;
    c->p++;
    return 1;
}

/* A JSON integer that is not negative and fits MAX_INT_DIGITS: "0" or no leading zero, as JSON requires. */
static int plain_integer(Cursor *c, long long *out)
{
    const char *s = c->p;
    long long value = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - s < MAX_INT_DIGITS) {
        value = value * 10 + (*c->p - '0');
        c->p++;
    }
    Py_ssize_t n = c->p - s;
    if (n == 0 || n > MAX_INT_DIGITS || (n > 1 && *s == '0'))
        return 0;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || (*c->p >= '0' && *c->p <= '9')))
        return 0; /* a float, or more digits than we read */
    *out = value;
    return 1;
}

static int digits(Cursor *c, Py_ssize_t *n)
{
    const char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - s <= MAX_DIGITS)
        c->p++;
    *n = c->p - s;
    return *n >= 1 && *n <= MAX_DIGITS;
}

/* A price or quantity by the LEVEL RULES, up to its closing quote (not consumed). A price is above zero and has at
 * most DECIMALS significant decimals. */
static int plain_decimal(Cursor *c, int price)
{
    const char *s = c->p;
    Py_ssize_t n;
    if (!digits(c, &n))
        return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        const char *frac = c->p;
        if (!digits(c, &n))
            return 0;
        if (price)
            for (const char *d = frac + DECIMALS; d < c->p; d++)
                if (*d != '0')
                    return 0;
    }
    if (c->p >= c->end || *c->p != '"')
        return 0;
    if (price) {
        for (const char *d = s; d < c->p; d++)
            if (*d >= '1' && *d <= '9')
                return 1;
        return 0; /* made of zeros and a dot */
    }
    return 1;
}

static PyObject *ascii_str(const char *s, Py_ssize_t n)
{
    PyObject *str = PyUnicode_New(n, 127);
    if (str != NULL)
        memcpy(PyUnicode_1BYTE_DATA(str), s, (size_t)n);
    return str;
}

/* A level's price or quantity, `"` text `"` (the closing quote left for the caller's literal): a new str, or NULL
 * with no exception set when the text breaks the LEVEL RULES (one set when memory ran out). */
static PyObject *decimal_text(Cursor *c, int price)
{
    if (!TAKE(c, "\""))
        return NULL;
    const char *start = c->p;
    return plain_decimal(c, price) ? ascii_str(start, c->p - start) : NULL;
}

/* Whether a decimal's text holds a digit other than 0 (it is above zero). */
static int above_zero(PyObject *text)
{
    const char *d = (const char *)PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(text); i++)
        if (d[i] >= '1' && d[i] <= '9')
            return 1;
    return 0;
}

/* `[` levels `]` into a new list of [price, quantity] lists; NULL, with no exception set, when the text is not
 * that (with one set when memory ran out). `positive`: a quantity must be above zero (a snapshot's). */
static PyObject *side_levels(Cursor *c, int positive)
{
    if (!TAKE(c, "["))
        return NULL;
    PyObject *list = PyList_New(0);
    if (list == NULL || TAKE(c, "]"))
        return list;
    do {
        PyObject *level = NULL, *p = NULL, *q = NULL;
        int ok = TAKE(c, "[") && (p = decimal_text(c, 1)) != NULL && TAKE(c, "\",") &&
                 (q = decimal_text(c, 0)) != NULL && (!positive || above_zero(q)) && TAKE(c, "\"]") &&
                 (level = PyList_New(2)) != NULL;
        if (!ok) {
            Py_XDECREF(p);
            Py_XDECREF(q);
            goto fail;
        }
        PyList_SET_ITEM(level, 0, p);
        PyList_SET_ITEM(level, 1, q);
        int appended = PyList_Append(list, level);
        Py_DECREF(level);
        if (appended < 0)
            goto fail;
    } while (TAKE(c, ","));
    if (TAKE(c, "]"))
        return list;
fail:
    Py_DECREF(list);
    return NULL;
}

static PyObject *levels(Cursor *c) { return side_levels(c, 0); }

enum { KIND, EVENT_TIME, SYMBOL, FIRST, LAST, PREVIOUS, FIELDS };

static int member_index(const char *key, Py_ssize_t n)
{
    if (n == 1) {
        switch (key[0]) {
        case 'e': return KIND;
        case 'E': return EVENT_TIME;
        case 's': return SYMBOL;
        case 'U': return FIRST;
        case 'u': return LAST;
        }
    }
    if (n == 2 && key[0] == 'p' && key[1] == 'u')
        return PREVIOUS;
    return -1;
}

/* The event's class (None: the answer is a tuple) and where each of its fields lives in an instance. */
#define EVENT_FIELDS 7
static const char *const event_fields[EVENT_FIELDS] = {
    "symbol", "first_update_id", "final_update_id", "event_time", "bids", "asks", "prev_final_update_id",
};
static PyTypeObject *event_type = NULL;
static Py_ssize_t event_offsets[EVENT_FIELDS];

/* The event of these fields: the references to name, bids, asks and previous are stolen, also on failure. */
static PyObject *new_event(PyObject *name, long long first, long long last, long long time, PyObject *bids,
                           PyObject *asks, PyObject *previous)
{
    if (event_type == NULL)
        return Py_BuildValue("(NLLLNNN)", name, first, last, time, bids, asks, previous);
    PyObject *values[EVENT_FIELDS] = {
        name, PyLong_FromLongLong(first), PyLong_FromLongLong(last), PyLong_FromLongLong(time), bids, asks, previous,
    };
    PyObject *event = NULL;
    if (values[1] != NULL && values[2] != NULL && values[3] != NULL)
        event = event_type->tp_alloc(event_type, 0);
    if (event == NULL) {
        for (int i = 0; i < EVENT_FIELDS; i++)
            Py_XDECREF(values[i]);
        return NULL;
    }
    for (int i = 0; i < EVENT_FIELDS; i++) /* each slot starts empty (NULL): a plain store, as __init__'s */
        *(PyObject **)((char *)event + event_offsets[i]) = values[i];
    return event;
}

/* use_event_type(cls): answer with instances of `cls` from now on. `cls` must keep each field in a writable
 * object slot of its own (a dataclass with slots=True): anything else is refused and the answer stays a tuple. */
static PyObject *use_event_type(PyObject *Py_UNUSED(module), PyObject *cls)
{
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "use_event_type() needs a class");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    /* A class made by a class statement: its tp_dict is set (a static builtin type's is NULL from 3.12 on) and its
     * instances have a fixed size. */
    if (!PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE) || type->tp_dict == NULL || type->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%s is not a slots class", type->tp_name);
        return NULL;
    }
    Py_ssize_t offsets[EVENT_FIELDS];
    for (int i = 0; i < EVENT_FIELDS; i++) {
        PyObject *descr = PyDict_GetItemString(type->tp_dict, event_fields[i]); /* borrowed */
        /* The class's own slot: a member descriptor of another class, set on it, holds another layout's offset. */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) || PyDescr_TYPE(descr) != type) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, event_fields[i]);
            return NULL;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY) || member->offset < (Py_ssize_t)sizeof(PyObject) ||
            member->offset > type->tp_basicsize - (Py_ssize_t)sizeof(PyObject *)) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a writable object slot", type->tp_name, event_fields[i]);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (offsets[j] == member->offset) {
                PyErr_Format(PyExc_TypeError, "%s.%s shares a slot", type->tp_name, event_fields[i]);
                return NULL;
            }
        }
        offsets[i] = member->offset;
    }
    memcpy(event_offsets, offsets, sizeof(offsets));
    Py_XSETREF(event_type, (PyTypeObject *)Py_NewRef(cls));
    Py_RETURN_NONE;
}

static PyObject *scan(const char *text, Py_ssize_t size)
{
    Cursor c = {text, text + size};
    int combined = 0;
    if (TAKE(&c, "{\"stream\":")) {
        const char *stream;
        Py_ssize_t stream_len;
        if (!plain_string(&c, &stream, &stream_len) || !TAKE(&c, ",\"data\":{"))
            Py_RETURN_NONE;
        combined = 1;
    } else if (!TAKE(&c, "{")) {
        Py_RETURN_NONE;
    }
    int seen[FIELDS] = {0};
    long long number[FIELDS] = {0};
    const char *symbol = NULL;
    Py_ssize_t symbol_len = 0;
    while (!TAKE(&c, "\"b\":")) {
        const char *key, *value;
        Py_ssize_t key_len, value_len;
        long long integer;
        if (!plain_string(&c, &key, &key_len) || !TAKE(&c, ":"))
            Py_RETURN_NONE;
        int field = member_index(key, key_len);
        if (field < 0 && key_len == 1 && key[0] == 'a')
            Py_RETURN_NONE; /* "a" before "b": not the layout */
        if (field >= 0 && seen[field]++)
            Py_RETURN_NONE; /* a repeated member: orjson keeps the last; the specification's path reads it */
        if (c.p < c.end && *c.p == '"') {
            if (!plain_string(&c, &value, &value_len))
                Py_RETURN_NONE;
            if (field == KIND && !(value_len == 11 && memcmp(value, "depthUpdate", 11) == 0))
                Py_RETURN_NONE;
            if (field == SYMBOL) {
                symbol = value;
                symbol_len = value_len;
            } else if (field != KIND && field >= 0) {
                Py_RETURN_NONE; /* an id or a time as a string */
            }
        } else {
            if (!plain_integer(&c, &integer) || field == KIND || field == SYMBOL)
                Py_RETURN_NONE;
            if (field >= 0)
                number[field] = integer;
        }
        if (!TAKE(&c, ","))
            Py_RETURN_NONE;
    }
    if (!seen[KIND] || !seen[SYMBOL] || !seen[EVENT_TIME] || !seen[FIRST] || !seen[LAST])
        Py_RETURN_NONE;
    if (number[FIRST] > number[LAST])
        Py_RETURN_NONE; /* refused, with its reason, by the specification's path */
    /* From here every object made is released on the one way out that is not the answer. */
    PyObject *bids = NULL, *asks = NULL, *name = NULL, *previous = NULL;
    if ((bids = levels(&c)) == NULL || !TAKE(&c, ",\"a\":") || (asks = levels(&c)) == NULL)
        goto declined;
    if (!(combined ? TAKE(&c, "}}") : TAKE(&c, "}")) || c.p != c.end)
        goto declined;
    name = ascii_str(symbol, symbol_len);
    previous = seen[PREVIOUS] ? PyLong_FromLongLong(number[PREVIOUS]) : Py_NewRef(Py_None);
    if (name == NULL || previous == NULL)
        goto declined; /* out of memory: the exception is set */
    return new_event(name, number[FIRST], number[LAST], number[EVENT_TIME], bids, asks, previous);
declined:
    Py_XDECREF(bids);
    Py_XDECREF(asks);
    Py_XDECREF(name);
    Py_XDECREF(previous);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *scan_depth_update(PyObject *Py_UNUSED(module), PyObject *raw)
{
    if (PyBytes_CheckExact(raw))
        return scan(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
    if (PyUnicode_CheckExact(raw) && PyUnicode_IS_ASCII(raw))
        return scan((const char *)PyUnicode_1BYTE_DATA(raw), PyUnicode_GET_LENGTH(raw));
    Py_RETURN_NONE;
}

/* A price's exact value in 1e-8 ticks, when it fits 10 whole digits (else -1: the caller declines). The text
 * follows the LEVEL RULES for a price: at most DECIMALS significant decimals, the rest zeros. */
static long long price_ticks(PyObject *text)
{
    const char *d = (const char *)PyUnicode_1BYTE_DATA(text), *end = d + PyUnicode_GET_LENGTH(text);
    while (d < end && *d == '0')
        d++; /* leading zeros add nothing */
    long long ticks = 0;
    int whole = 0, decimals = -1;
    for (; d < end; d++) {
        if (*d == '.') {
            decimals = 0;
            continue;
        }
        if (decimals >= 0 && decimals == DECIMALS)
            break; /* only zeros follow */
        if (decimals < 0 && ++whole > 10)
            return -1;
        ticks = ticks * 10 + (*d - '0');
        if (decimals >= 0)
            decimals++;
    }
    for (int k = decimals < 0 ? 0 : decimals; k < DECIMALS; k++)
        ticks *= 10;
    return ticks;
}

/* The side's best price in ticks, if its prices strictly fall (bids, sign -1) or rise (asks, +1) and all fit:
 * 1, else 0 (the caller declines: the specification says what is wrong). An empty side gives *best = -1. */
static int in_order(PyObject *side, int sign, long long *best)
{
    long long previous = -1;
    *best = -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(side); i++) {
        long long ticks = price_ticks(PyList_GET_ITEM(PyList_GET_ITEM(side, i), 0));
        if (ticks < 0 || (i > 0 && (ticks - previous) * sign <= 0))
            return 0;
        if (i == 0)
            *best = ticks;
        previous = ticks;
    }
    return 1;
}

/* scan_depth_snapshot(raw) -> (lastUpdateId, bids, asks) of a REST depth answer in Binance's layout
 * (`{"lastUpdateId":1,"bids":[...],"asks":[...]}`, futures adding "E" and "T" before the levels) whose levels
 * follow the LEVEL RULES with quantities above zero, bids strictly falling, asks strictly rising, best bid below
 * best ask; else None, and `parse_depth_snapshot` (core/market/wire.py, the specification) reads it. */
static PyObject *scan_depth_snapshot(PyObject *Py_UNUSED(module), PyObject *raw)
{
    if (!PyBytes_CheckExact(raw))
        Py_RETURN_NONE;
    Cursor c = {PyBytes_AS_STRING(raw), PyBytes_AS_STRING(raw) + PyBytes_GET_SIZE(raw)};
    if (!TAKE(&c, "{"))
        Py_RETURN_NONE;
    long long last_id = 0;
    int seen_id = 0;
    while (!TAKE(&c, "\"bids\":")) {
        const char *key;
        Py_ssize_t key_len;
        long long value;
        if (!plain_string(&c, &key, &key_len) || !TAKE(&c, ":") || !plain_integer(&c, &value) || !TAKE(&c, ","))
            Py_RETURN_NONE;
        if (key_len == 12 && memcmp(key, "lastUpdateId", 12) == 0) {
            if (seen_id++)
                Py_RETURN_NONE; /* a repeated member: orjson keeps the last; the specification's path reads it */
            last_id = value;
        } else if (key_len == 4 && memcmp(key, "asks", 4) == 0) {
            Py_RETURN_NONE;
        }
    }
    if (!seen_id)
        Py_RETURN_NONE;
    PyObject *bids = NULL, *asks = NULL;
    long long best_bid, best_ask;
    if ((bids = side_levels(&c, 1)) == NULL || !TAKE(&c, ",\"asks\":") || (asks = side_levels(&c, 1)) == NULL ||
        !TAKE(&c, "}") || c.p != c.end || !in_order(bids, -1, &best_bid) || !in_order(asks, +1, &best_ask) ||
        (best_bid >= 0 && best_ask >= 0 && best_bid >= best_ask)) {
        Py_XDECREF(bids);
        Py_XDECREF(asks);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(LNN)", last_id, bids, asks);
}

static PyMethodDef module_methods[] = {
    {"scan_depth_update", scan_depth_update, METH_O,
     "scan_depth_update(raw) -> the event (symbol, U, u, E, bids, asks, pu) of a clean depthUpdate frame in "
     "Binance's layout, else None: an instance of the class given to use_event_type, else a tuple."},
    {"scan_depth_snapshot", scan_depth_snapshot, METH_O,
     "scan_depth_snapshot(raw) -> (lastUpdateId, bids, asks) of a clean REST depth answer in Binance's layout, "
     "its levels checked as parse_depth_snapshot checks them, else None."},
    {"use_event_type", use_event_type, METH_O,
     "use_event_type(cls): scan_depth_update answers with instances of `cls`, a slots class with the fields "
     "symbol, first_update_id, final_update_id, event_time, bids, asks, prev_final_update_id."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_frame_scan",
    .m_doc = "A diff-depth frame in Binance's own layout, read in one pass.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__frame_scan(void) { return PyModule_Create(&module); }
