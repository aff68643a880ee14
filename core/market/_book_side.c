/* One side of an order book in flat memory: core.market._book_side.Side.
 *
 * The same behaviour as the pure-Python side in core/market/book_side.py (its docstrings are the
 * specification; tests/core/market/test_book_sides.py feeds both the same streams and compares them). Why it
 * exists: with 1,500 books the Python side's dicts, ints and lists are scattered objects, and each event's
 * levels cost cache misses on them (docs/PERFORMANCE.md, "Cost per event"). Here a side is three parallel
 * arrays sorted by rank (best last): the ranks, and the exchange's price and quantity strings, each exactly as
 * it was sent. A string of at most INLINE_TEXT ASCII characters (every price and quantity Binance sends) is
 * kept as its characters in the array itself, not as a str object of its own: a capture then reads its top
 * levels from a few adjacent lines, where forty objects scattered over the heap cost a cache and TLB miss
 * each, and a change releases no cold object (docs/PERFORMANCE.md, "Session 23"). Any other string is kept as
 * its str object.
 *
 * A rank is the exact price in 1e-8 ticks, negated for asks, so that a higher rank is always better. It is a
 * 128-bit integer: the wire allows 20 integer digits (1e28 ticks), more than 64 bits hold.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef __int128 rank_t;

#define DECIMALS 8
#define RANK_MAX ((rank_t)(((unsigned __int128)1 << 127) - 1))
#define UNBOUNDED (-RANK_MAX - 1) /* a horizon below every rank: the snapshot held the whole side */
#define NOTHING RANK_MAX          /* a horizon above every rank: no level is known */
#define MAX_WHOLE_DIGITS 29       /* 1e29 x 1e8 ticks still fits, far from the sentinels */

/* Python helpers from core.market.wire, set by configure(): the exact rules for what C does not parse. */
static PyObject *decimal_ticks_fn = NULL;
static PyObject *ticks_to_decimal_fn = NULL;

#define INLINE_TEXT 22
#define HELD 0xFF /* Text.inline_.len of a string kept as its object */

/* A price's or a quantity's text: its characters (ASCII, at most INLINE_TEXT, and a NUL after them, as a str's
 * UTF-8 has: PyOS_string_to_double reads up to it), or its str object (a new reference). */
typedef union {
    struct {
        unsigned char len;
        char chars[INLINE_TEXT + 1];
    } inline_;
    struct {
        unsigned char tag; /* HELD */
        PyObject *object;
    } held;
} Text;

typedef struct {
    PyObject_HEAD
    int sign;             /* +1 bids (higher is better), -1 asks (lower is better) */
    Py_ssize_t depth;     /* kept for the Python side's signature; the arrays are all sorted */
    Py_ssize_t cap;       /* levels kept when some lie beyond the horizon; -1: every level */
    Py_ssize_t bound;     /* more levels than this: drop some beyond the horizon */
    rank_t horizon;       /* the worst rank the last snapshot covered */
    Py_ssize_t inside;    /* levels at the horizon or better, the arrays' last: a room without a search */
    Py_ssize_t n, size;   /* levels held, slots allocated */
    Py_ssize_t front;     /* free slots before the first level: the arrays start `front` slots into their blocks */
    rank_t *ranks;        /* ascending: the best level is the last */
    Text *prices;         /* index for index with ranks */
    Text *qtys;
} Side;

/* Keep `text` (a str) in the empty slot `t`. */
static void text_init(Text *t, PyObject *text)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text) && len <= INLINE_TEXT) {
        t->inline_.len = (unsigned char)len;
        memcpy(t->inline_.chars, PyUnicode_DATA(text), (size_t)len);
        t->inline_.chars[len] = '\0';
    } else {
        t->held.tag = HELD;
        t->held.object = Py_NewRef(text);
    }
}

static void text_release(Text *t)
{
    if (t->inline_.len == HELD)
        Py_DECREF(t->held.object);
}

/* The text as a str: a new one of its characters, or its object. */
static PyObject *text_str(const Text *t)
{
    if (t->inline_.len == HELD)
        return Py_NewRef(t->held.object);
    PyObject *text = PyUnicode_New(t->inline_.len, 127);
    if (text != NULL)
        memcpy(PyUnicode_1BYTE_DATA(text), t->inline_.chars, t->inline_.len);
    return text;
}

/* The text's UTF-8 bytes (NULL and an exception for a str that has none). */
static const char *text_utf8(const Text *t, Py_ssize_t *len)
{
    if (t->inline_.len == HELD)
        return PyUnicode_AsUTF8AndSize(t->held.object, len);
    *len = t->inline_.len;
    return t->inline_.chars;
}

static Py_ssize_t no_more_than(Py_ssize_t cap, Py_ssize_t held)
{
    /* A quarter above the larger of cap and held (at least 16 more): each drop is paid for by many inserts. */
    if (cap < 0)
        return PY_SSIZE_T_MAX;
    Py_ssize_t size = cap > held ? cap : held;
    Py_ssize_t more = size >> 2;
    return size + (more > 16 ? more : 16);
}

/* --- numbers ---------------------------------------------------------------------------------------- */

static PyObject *rank_to_long(rank_t value)
{
    if (value >= LLONG_MIN && value <= LLONG_MAX)
        return PyLong_FromLongLong((long long)value);
    /* rare: build it from two halves */
    int negative = value < 0;
    unsigned __int128 magnitude = negative ? -(unsigned __int128)value : (unsigned __int128)value;
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(magnitude >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)magnitude);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *result = NULL, *shifted = NULL, *sum = NULL;
    if (hi && lo && shift && (shifted = PyNumber_Lshift(hi, shift)) && (sum = PyNumber_Or(shifted, lo)))
        result = negative ? PyNumber_Negative(sum) : (Py_INCREF(sum), sum);
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    Py_XDECREF(shifted);
    Py_XDECREF(sum);
    return result;
}

/* The ticks of a price that is not plain ASCII: the Python rules decide (they raise ValueError). */
static int python_ticks(PyObject *price, rank_t *out)
{
    if (decimal_ticks_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "core.market._book_side is not configured");
        return -1;
    }
    PyObject *ticks = PyObject_CallOneArg(decimal_ticks_fn, price);
    if (ticks == NULL)
        return -1;
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(ticks, &overflow);
    Py_DECREF(ticks);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (overflow) {
        PyErr_Format(PyExc_ValueError, "price out of range: %R", price);
        return -1;
    }
    *out = value;
    return 0;
}

/* The exact price in 1e-8 ticks (core.market.wire.decimal_ticks): digits, an optional dot and decimals, at
 * most 8 of them significant. ValueError otherwise. */
static int price_ticks(PyObject *price, rank_t *out)
{
    if (!PyUnicode_Check(price)) {
        PyErr_Format(PyExc_TypeError, "a price is a str, not %.100s", Py_TYPE(price)->tp_name);
        return -1;
    }
    if (!PyUnicode_IS_ASCII(price))
        return python_ticks(price, out);
    const char *c = (const char *)PyUnicode_DATA(price);
    Py_ssize_t len = PyUnicode_GET_LENGTH(price), i = 0;
    unsigned __int128 value = 0;
    int whole = 0, frac = 0;
    for (; i < len && c[i] != '.'; i++, whole++) {
        if (c[i] < '0' || c[i] > '9' || whole >= MAX_WHOLE_DIGITS)
            goto not_a_number;
        value = value * 10 + (unsigned)(c[i] - '0');
    }
    if (whole == 0)
        goto not_a_number;
    for (i++; i < len; i++) { /* past the dot */
        if (c[i] < '0' || c[i] > '9')
            goto not_a_number;
        if (frac < DECIMALS) {
            value = value * 10 + (unsigned)(c[i] - '0');
            frac++;
        } else if (c[i] != '0') {
            PyErr_Format(PyExc_ValueError, "more than %d significant decimals in %R", DECIMALS, price);
            return -1;
        }
    }
    for (; frac < DECIMALS; frac++)
        value *= 10;
    *out = (rank_t)value;
    return 0;
not_a_number:
    if (whole >= MAX_WHOLE_DIGITS)
        PyErr_Format(PyExc_ValueError, "price out of range: %R", price);
    else
        PyErr_Format(PyExc_ValueError, "not a decimal number: %R", price);
    return -1;
}

/* A quantity made of zeros and dots only (in any spelling, "" too) removes its level: str.strip("0.") == "". */
static int is_zero(PyObject *qty)
{
    if (!PyUnicode_IS_ASCII(qty))
        return 0;
    const char *c = (const char *)PyUnicode_DATA(qty);
    Py_ssize_t len = PyUnicode_GET_LENGTH(qty);
    for (Py_ssize_t i = 0; i < len; i++)
        if (c[i] != '0' && c[i] != '.')
            return 0;
    return 1;
}

/* A snapshot's quantity: one optional dot among digits, at least one digit ("." is a zero, as in Python). */
static int check_snapshot_qty(PyObject *qty)
{
    if (!PyUnicode_Check(qty)) {
        PyErr_Format(PyExc_TypeError, "a quantity is a str, not %.100s", Py_TYPE(qty)->tp_name);
        return -1;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(qty), dots = 0;
    int ok = PyUnicode_IS_ASCII(qty) && len > 0;
    const char *c = ok ? (const char *)PyUnicode_DATA(qty) : NULL;
    for (Py_ssize_t i = 0; ok && i < len; i++) {
        if (c[i] == '.')
            ok = ++dots <= 1;
        else
            ok = c[i] >= '0' && c[i] <= '9';
    }
    if (ok && (dots < len || is_zero(qty)))
        return 0;
    PyErr_Format(PyExc_ValueError, "not a decimal number: %R", qty);
    return -1;
}

/* One level [price, qty] of an event or a snapshot: borrowed references. */
static int unpack_level(PyObject *level, PyObject **price, PyObject **qty)
{
    if ((PyList_CheckExact(level) && PyList_GET_SIZE(level) == 2)) {
        *price = PyList_GET_ITEM(level, 0);
        *qty = PyList_GET_ITEM(level, 1);
    } else if (PyTuple_CheckExact(level) && PyTuple_GET_SIZE(level) == 2) {
        *price = PyTuple_GET_ITEM(level, 0);
        *qty = PyTuple_GET_ITEM(level, 1);
    } else if (PyList_Check(level) || PyTuple_Check(level)) {
        PyErr_Format(PyExc_ValueError, "a level is [price, quantity], got %zd items", PySequence_Size(level));
        return -1;
    } else {
        PyErr_Format(PyExc_TypeError, "a level is [price, quantity], not %.100s", Py_TYPE(level)->tp_name);
        return -1;
    }
    if (!PyUnicode_Check(*qty)) {
        PyErr_Format(PyExc_TypeError, "a quantity is a str, not %.100s", Py_TYPE(*qty)->tp_name);
        return -1;
    }
    return 0;
}

/* --- the arrays --------------------------------------------------------------------------------------- */

/* The first index in [lo, hi) whose rank is >= rank (hi if none): every rank from hi on is >= rank. */
static Py_ssize_t bisect_between(const Side *self, rank_t rank, Py_ssize_t lo, Py_ssize_t hi)
{
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (self->ranks[mid] < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static Py_ssize_t bisect_left(const Side *self, rank_t rank) { return bisect_between(self, rank, 0, self->n); }

/* bisect_left for an event's level. Most of an event's levels lie near the touch, the arrays' end: searching from
 * there with a doubling step, then bisecting the last bracket, reads a few cache lines at the top of a book the
 * CPU's caches have not seen since its last event, where a bisection of the whole array starts in its middle
 * (docs/PERFORMANCE.md, "Session 22"). */
static Py_ssize_t bisect_from_best(const Side *self, rank_t rank)
{
    Py_ssize_t hi = self->n, step = 1; /* every rank from hi on is >= rank */
    while (hi > 0 && self->ranks[hi - 1] >= rank) {
        Py_ssize_t lo = hi - step;
        if (lo <= 0 || self->ranks[lo] < rank) /* the answer lies in [max(lo, 0), hi) */
            return bisect_between(self, rank, lo < 0 ? 0 : lo, hi);
        hi = lo;
        step <<= 1;
    }
    return hi;
}

/* Free slots on both sides of the levels, so that a change moves the levels on its shorter side: most changes
 * lie near the touch (the arrays' end), but a deep book's far levels change too, and moving a thousand levels to
 * make or close a slot near the front was a tenth of a frame's cost at the whole market (docs/PERFORMANCE.md,
 * "Session 22"). */
static Py_ssize_t free_after(const Side *self) { return self->size - self->front - self->n; }

/* Put the levels in new blocks of `size` slots (or the same ones: size == self->size), `front` slots in. */
static int place(Side *self, Py_ssize_t size, Py_ssize_t front)
{
    Py_ssize_t n = self->n;
    if (size == self->size && self->ranks != NULL) { /* the same blocks: move the levels in place */
        memmove(self->ranks - self->front + front, self->ranks, (size_t)n * sizeof(rank_t));
        memmove(self->prices - self->front + front, self->prices, (size_t)n * sizeof(Text));
        memmove(self->qtys - self->front + front, self->qtys, (size_t)n * sizeof(Text));
        self->ranks += front - self->front;
        self->prices += front - self->front;
        self->qtys += front - self->front;
        self->front = front;
        return 0;
    }
    rank_t *ranks = PyMem_Malloc((size_t)size * sizeof(rank_t));
    Text *prices = PyMem_Malloc((size_t)size * sizeof(Text));
    Text *qtys = PyMem_Malloc((size_t)size * sizeof(Text));
    if (ranks == NULL || prices == NULL || qtys == NULL) {
        PyMem_Free(ranks);
        PyMem_Free(prices);
        PyMem_Free(qtys);
        PyErr_NoMemory();
        return -1;
    }
    if (n > 0) {
        memcpy(ranks + front, self->ranks, (size_t)n * sizeof(rank_t));
        memcpy(prices + front, self->prices, (size_t)n * sizeof(Text));
        memcpy(qtys + front, self->qtys, (size_t)n * sizeof(Text));
    }
    if (self->ranks != NULL) {
        PyMem_Free(self->ranks - self->front);
        PyMem_Free(self->prices - self->front);
        PyMem_Free(self->qtys - self->front);
    }
    self->ranks = ranks + front;
    self->prices = prices + front;
    self->qtys = qtys + front;
    self->size = size;
    self->front = front;
    return 0;
}

/* Room for `need` levels from the first slot on (a snapshot's load, into an empty side). */
static int reserve(Side *self, Py_ssize_t need)
{
    if (need <= self->size - self->front)
        return 0;
    Py_ssize_t size = self->size < 16 ? 16 : self->size;
    while (size < need)
        size += size >> 1;
    return place(self, size, 0);
}

/* A free slot on the side `at_front` asks for: the levels are centred again in their blocks when the free slots are
 * plenty (each such move is paid for by many changes), else in larger blocks. */
static int make_room(Side *self, int at_front)
{
    if (at_front ? self->front > 0 : free_after(self) > 0)
        return 0;
    Py_ssize_t free = self->size - self->n, size = self->size;
    if (free < 16 + (self->n >> 3)) {
        size = self->size < 16 ? 32 : self->size + (self->size >> 1) + 16;
        free = size - self->n;
    }
    return place(self, size, free / 2);
}

/* Insert at index i, moving the shorter part of the levels; make_room(i < n - i) first. */
static void insert_at(Side *self, Py_ssize_t i, rank_t rank, PyObject *price, PyObject *qty)
{
    if (i < self->n - i && self->front > 0) { /* the levels before i move one slot towards the front */
        self->ranks--;
        self->prices--;
        self->qtys--;
        self->front--;
        memmove(self->ranks, self->ranks + 1, (size_t)i * sizeof(rank_t));
        memmove(self->prices, self->prices + 1, (size_t)i * sizeof(Text));
        memmove(self->qtys, self->qtys + 1, (size_t)i * sizeof(Text));
    } else {
        Py_ssize_t tail = self->n - i;
        if (tail > 0) {
            memmove(self->ranks + i + 1, self->ranks + i, (size_t)tail * sizeof(rank_t));
            memmove(self->prices + i + 1, self->prices + i, (size_t)tail * sizeof(Text));
            memmove(self->qtys + i + 1, self->qtys + i, (size_t)tail * sizeof(Text));
        }
    }
    self->ranks[i] = rank;
    if (rank >= self->horizon)
        self->inside++;
    text_init(&self->prices[i], price);
    text_init(&self->qtys[i], qty);
    self->n++;
}

/* Remove the levels [i, i + k); the str objects they held are released only after the arrays are consistent. */
static void remove_range(Side *self, Py_ssize_t i, Py_ssize_t k)
{
    PyObject *stack[16];
    Py_ssize_t held = 0; /* objects among the removed levels' texts */
    for (Py_ssize_t j = i; j < i + k; j++)
        held += (self->prices[j].inline_.len == HELD) + (self->qtys[j].inline_.len == HELD);
    PyObject **gone = held <= 16 ? stack : PyMem_Malloc((size_t)held * sizeof(PyObject *));
    Py_ssize_t first_inside = self->n - self->inside, from = i > first_inside ? i : first_inside;
    if (i + k > from)
        self->inside -= i + k - from;
    if (gone != NULL) {
        Py_ssize_t g = 0;
        for (Py_ssize_t j = i; j < i + k; j++) {
            if (self->prices[j].inline_.len == HELD)
                gone[g++] = self->prices[j].held.object;
            if (self->qtys[j].inline_.len == HELD)
                gone[g++] = self->qtys[j].held.object;
        }
    }
    Py_ssize_t tail = self->n - i - k;
    if (i < tail) { /* the levels before i move k slots towards the end */
        memmove(self->ranks + k, self->ranks, (size_t)i * sizeof(rank_t));
        memmove(self->prices + k, self->prices, (size_t)i * sizeof(Text));
        memmove(self->qtys + k, self->qtys, (size_t)i * sizeof(Text));
        self->ranks += k;
        self->prices += k;
        self->qtys += k;
        self->front += k;
    } else if (tail > 0) {
        memmove(self->ranks + i, self->ranks + i + k, (size_t)tail * sizeof(rank_t));
        memmove(self->prices + i, self->prices + i + k, (size_t)tail * sizeof(Text));
        memmove(self->qtys + i, self->qtys + i + k, (size_t)tail * sizeof(Text));
    }
    self->n -= k;
    if (gone == NULL)
        return; /* out of memory: leak the strings rather than free what may be in use */
    for (Py_ssize_t j = 0; j < held; j++)
        Py_DECREF(gone[j]);
    if (gone != stack)
        PyMem_Free(gone);
}

static void release_all(Side *self)
{
    Py_ssize_t n = self->n;
    self->n = 0;
    self->inside = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        text_release(&self->prices[i]);
        text_release(&self->qtys[i]);
    }
}

static void reset(Side *self)
{
    release_all(self);
    self->horizon = NOTHING;
    self->bound = no_more_than(self->cap, 0);
}

/* Keep the side's best `cap` levels, dropping only levels beyond the horizon, worst first (the Python side's
 * _drop_beyond_horizon says why a verified top n never changes). */
static void drop_beyond_horizon(Side *self)
{
    Py_ssize_t excess = self->n - (self->cap < 0 ? 0 : self->cap);
    Py_ssize_t beyond = self->n - self->inside;
    Py_ssize_t k = excess < beyond ? excess : beyond;
    if (k > 0)
        remove_range(self, 0, k);
    self->bound = no_more_than(self->cap, self->n);
}

/* --- the type ---------------------------------------------------------------------------------------- */

static int Side_init(Side *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"sign", "depth", "cap", NULL};
    int sign;
    Py_ssize_t depth;
    PyObject *cap = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "in|O", kwlist, &sign, &depth, &cap))
        return -1;
    if (sign != 1 && sign != -1) {
        PyErr_SetString(PyExc_ValueError, "sign is +1 (bids) or -1 (asks)");
        return -1;
    }
    Py_ssize_t cap_value = -1;
    if (cap != Py_None && ((cap_value = PyLong_AsSsize_t(cap)) == -1 && PyErr_Occurred()))
        return -1;
    if (cap != Py_None && cap_value < 0) {
        PyErr_SetString(PyExc_ValueError, "cap is at least 0, or None");
        return -1;
    }
    release_all(self);
    self->sign = sign;
    self->depth = depth;
    self->cap = cap_value;
    self->horizon = NOTHING;
    self->bound = no_more_than(cap_value, 0);
    return 0;
}

static void Side_dealloc(Side *self)
{
    release_all(self);
    if (self->ranks != NULL) {
        PyMem_Free(self->ranks - self->front);
        PyMem_Free(self->prices - self->front);
        PyMem_Free(self->qtys - self->front);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t Side_len(Side *self) { return self->n; }

static PyObject *Side_clear(Side *self, PyObject *Py_UNUSED(ignored))
{
    reset(self);
    Py_RETURN_NONE;
}

static PyObject *Side_apply(Side *self, PyObject *levels)
{
    PyObject *seq = PySequence_Fast(levels, "the levels are a list of [price, quantity]");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *price, *qty;
        rank_t rank;
        if (unpack_level(items[j], &price, &qty) < 0 || price_ticks(price, &rank) < 0)
            goto error;
        rank *= self->sign;
        Py_ssize_t i = bisect_from_best(self, rank);
        int held = i < self->n && self->ranks[i] == rank;
        if (!is_zero(qty)) {
            if (held) { /* a known level changes size; the latest spelling of its price wins */
                /* Both slots are written before either old object is released: a release may run Python code
                 * (a str subclass's __del__, a collection) that looks at or changes this side. */
                PyObject *old_price = self->prices[i].inline_.len == HELD ? self->prices[i].held.object : NULL;
                PyObject *old_qty = self->qtys[i].inline_.len == HELD ? self->qtys[i].held.object : NULL;
                text_init(&self->prices[i], price);
                text_init(&self->qtys[i], qty);
                Py_XDECREF(old_price);
                Py_XDECREF(old_qty);
            } else {
                if (make_room(self, i < self->n - i) < 0)
                    goto error;
                insert_at(self, i, rank, price, qty);
            }
        } else if (held) { /* deleting a level we never held is normal on Binance */
            remove_range(self, i, 1);
        }
    }
    Py_DECREF(seq);
    if (self->n > self->bound)
        drop_beyond_horizon(self);
    Py_RETURN_NONE;
error:
    Py_DECREF(seq);
    return NULL;
}

typedef struct {
    rank_t rank;
    Py_ssize_t order; /* position in the snapshot: the last of the same price wins */
    PyObject *price, *qty;
} Entry;

static int by_rank_then_order(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static PyObject *Side_load(Side *self, PyObject *args)
{
    PyObject *levels, *limit;
    if (!PyArg_ParseTuple(args, "OO", &levels, &limit))
        return NULL;
    reset(self);
    PyObject *seq = PySequence_Fast(levels, "the levels are a list of [price, quantity]");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq), kept = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Entry *entries = PyMem_Malloc((size_t)(count ? count : 1) * sizeof(Entry));
    if (entries == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    int descending = 1; /* Binance sends each side best first: ranks come strictly descending */
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *price, *qty;
        if (unpack_level(items[j], &price, &qty) < 0 || check_snapshot_qty(qty) < 0)
            goto error;
        if (is_zero(qty))
            continue;
        rank_t rank;
        if (price_ticks(price, &rank) < 0)
            goto error;
        rank *= self->sign;
        if (kept && rank >= entries[kept - 1].rank)
            descending = 0;
        entries[kept++] = (Entry){rank, j, price, qty};
    }
    if (reserve(self, kept) < 0)
        goto error;
    if (descending) {
        for (Py_ssize_t j = 0; j < kept; j++) {
            Entry *e = &entries[kept - 1 - j];
            insert_at(self, j, e->rank, e->price, e->qty);
        }
    } else {
        qsort(entries, (size_t)kept, sizeof(Entry), by_rank_then_order);
        for (Py_ssize_t j = 0; j < kept; j++) {
            Entry *e = &entries[j];
            if (j + 1 < kept && entries[j + 1].rank == e->rank)
                continue; /* the same price again later in the snapshot: keep the last */
            insert_at(self, self->n, e->rank, e->price, e->qty);
        }
    }
    PyMem_Free(entries);
    Py_DECREF(seq);
    /* Fewer levels than the limit: the snapshot held the whole side. */
    int complete = 0;
    if (limit != Py_None) {
        Py_ssize_t most = PyLong_AsSsize_t(limit);
        if (most == -1 && PyErr_Occurred())
            return NULL;
        complete = count < most;
    }
    self->horizon = complete ? UNBOUNDED : (self->n ? self->ranks[0] : NOTHING);
    self->inside = self->n; /* the snapshot's levels are all inside its horizon */
    self->bound = no_more_than(self->cap, self->n);
    Py_RETURN_NONE;
error:
    PyMem_Free(entries);
    Py_DECREF(seq);
    reset(self);
    return NULL;
}

static PyObject *level_tuple(Side *self, Py_ssize_t i)
{
    PyObject *price = text_str(&self->prices[i]);
    PyObject *qty = price ? text_str(&self->qtys[i]) : NULL;
    PyObject *level = qty ? PyTuple_Pack(2, price, qty) : NULL;
    Py_XDECREF(price);
    Py_XDECREF(qty);
    return level;
}

static PyObject *Side_top(Side *self, PyObject *arg)
{
    Py_ssize_t want = PyLong_AsSsize_t(arg);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    if (want < 0)
        want = 0;
    Py_ssize_t n = want < self->n ? want : self->n;
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *level = level_tuple(self, self->n - 1 - j);
        if (level == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, j, level);
    }
    return list;
}

/* --- the recorder's copy: levels and their MessagePack bytes at once ------------------------------------ */

static size_t packed_str_size(Py_ssize_t len)
{
    return (size_t)len + (len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5);
}

static char *pack_str(char *out, const char *data, Py_ssize_t len)
{
    /* msgpack's str family, as msgpack.packb writes a Python str */
    if (len < 32) {
        *out++ = (char)(0xa0 | len);
    } else if (len < 256) {
        *out++ = (char)0xd9;
        *out++ = (char)len;
    } else if (len < 65536) {
        *out++ = (char)0xda;
        *out++ = (char)(len >> 8);
        *out++ = (char)len;
    } else {
        *out++ = (char)0xdb;
        for (int shift = 24; shift >= 0; shift -= 8)
            *out++ = (char)(len >> shift);
    }
    memcpy(out, data, (size_t)len);
    return out + len;
}

/* float() of a quantity's text. Plain decimals of at most 15 significant digits and 22 decimals, not counting
 * trailing zeros after the dot (Binance's eight decimals: "123456789.00000000" is 123456789), take Clinger's fast
 * path: their digits as an integer and 10^decimals are both exact doubles, so one IEEE division rounds their
 * quotient, the decimal itself, once and correctly: the double float() gives. At a tenth of
 * PyOS_string_to_double's cost, which made most of a capture. Anything else goes to it (-1.0 and an exception for
 * no number). */
static const double EXACT_POWERS_OF_TEN[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static double quantity_double(const char *text, Py_ssize_t len)
{
    unsigned long long digits = 0;
    int significant = 0, decimals = -1, zeros = 0, any = 0; /* decimals: -1 until the dot */
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (c < '0' || c > '9')
            return PyOS_string_to_double(text, NULL, NULL);
        any = 1;
        if (c == '0' && decimals >= 0) {
            zeros++; /* after the dot: it counts only if a digit other than 0 follows */
            continue;
        }
        for (int k = zeros + 1; k > 0; k--) { /* the zeros held back, then this digit */
            decimals += decimals >= 0;
            significant += digits != 0 || (k == 1 && c != '0');
            digits = digits * 10 + (k == 1 ? (unsigned)(c - '0') : 0);
        }
        zeros = 0;
        if (significant > 15 || decimals > 22)
            return PyOS_string_to_double(text, NULL, NULL);
    }
    if (!any)
        return PyOS_string_to_double(text, NULL, NULL);
    return (double)digits / EXACT_POWERS_OF_TEN[decimals < 0 ? 0 : decimals];
}

/* capture(n): (packed, numbers), the best n levels as the recorder keeps them. `packed` is the msgpack array of
 * their (price, quantity) string pairs, best first: the bytes a stored snapshot holds for this side. No level
 * tuples are made: the recorder makes 1,500 captures a second, and forty tuples each cost their making now and
 * their freeing a second later, touching every string twice (the snapshot decodes `packed` if anyone asks for
 * its levels). `numbers`, for the recorder's series and heatmap rows, holds each level as an int64 price in
 * 1e-8 ticks (its rank, made positive) and the float64 quantity (float(q): PyOS_string_to_double, which float()
 * calls, not strtod, whose decimal point follows the locale Qt sets), in the machine's byte order (never stored),
 * best first: the strings are in the cache now, and would not be when the writer reads them later (None when a
 * price does not fit in 64 bits: the writer then reads the strings). */
static PyObject *Side_capture(Side *self, PyObject *arg)
{
    Py_ssize_t want = PyLong_AsSsize_t(arg);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = want < 0 ? 0 : want < self->n ? want : self->n;
    PyObject *packed = NULL, *numbers = NULL;
    int fits = 1; /* every price fits an int64 of ticks */
    const char *texts[2];
    Py_ssize_t lengths[2];
    size_t size = n < 16 ? 1 : n < 65536 ? 3 : 5;
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_ssize_t i = self->n - 1 - j;
        rank_t ticks = self->sign * self->ranks[i];
        fits &= ticks >= 0 && ticks <= LLONG_MAX;
        for (int k = 0; k < 2; k++) {
            if (text_utf8(k ? &self->qtys[i] : &self->prices[i], &lengths[k]) == NULL)
                return NULL;
            size += packed_str_size(lengths[k]);
        }
        size += 1; /* the level's fixarray header */
    }
    packed = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (packed == NULL)
        return NULL;
    char *numbers_out = NULL;
    if (fits) {
        numbers = PyBytes_FromStringAndSize(NULL, n * 16);
        if (numbers == NULL)
            goto error;
        numbers_out = PyBytes_AS_STRING(numbers);
    } else {
        numbers = Py_NewRef(Py_None);
    }
    char *out = PyBytes_AS_STRING(packed);
    if (n < 16) {
        *out++ = (char)(0x90 | n);
    } else if (n < 65536) {
        *out++ = (char)0xdc;
        *out++ = (char)(n >> 8);
        *out++ = (char)n;
    } else {
        *out++ = (char)0xdd;
        for (int shift = 24; shift >= 0; shift -= 8)
            *out++ = (char)(n >> shift);
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_ssize_t i = self->n - 1 - j;
        *out++ = (char)0x92;
        for (int k = 0; k < 2; k++) {
            texts[k] = text_utf8(k ? &self->qtys[i] : &self->prices[i], &lengths[k]);
            out = pack_str(out, texts[k], lengths[k]);
        }
        double qty = quantity_double(texts[1], lengths[1]); /* a quantity that is no number fails here */
        if (qty == -1.0 && PyErr_Occurred())
            goto error;
        if (numbers_out != NULL) {
            int64_t ticks = (int64_t)(self->sign * self->ranks[i]);
            memcpy(numbers_out, &ticks, 8);
            memcpy(numbers_out + 8, &qty, 8);
            numbers_out += 16;
        }
    }
    PyObject *result = PyTuple_Pack(2, packed, numbers);
    Py_DECREF(packed);
    Py_DECREF(numbers);
    return result;
error:
    Py_XDECREF(packed);
    Py_XDECREF(numbers);
    return NULL;
}

static PyObject *Side_best(Side *self, PyObject *Py_UNUSED(ignored))
{
    if (self->n == 0)
        Py_RETURN_NONE;
    return level_tuple(self, self->n - 1);
}

static PyObject *Side_best_rank(Side *self, PyObject *Py_UNUSED(ignored))
{
    if (self->n == 0)
        Py_RETURN_NONE;
    return rank_to_long(self->ranks[self->n - 1]);
}

static PyObject *Side_room(Side *self, PyObject *args)
{
    Py_ssize_t n, cap;
    if (!PyArg_ParseTuple(args, "nn", &n, &cap))
        return NULL;
    if (self->horizon == UNBOUNDED)
        return PyLong_FromSsize_t(cap);
    Py_ssize_t room = self->inside - n;
    return PyLong_FromSsize_t(room < cap ? room : cap);
}

static PyObject *Side_horizon_price(Side *self, PyObject *Py_UNUSED(ignored))
{
    rank_t h = self->horizon;
    if (h == UNBOUNDED || h == NOTHING)
        Py_RETURN_NONE;
    Py_ssize_t i = bisect_left(self, h);
    if (i < self->n && self->ranks[i] == h) { /* the snapshot's last level, unless an event removed it since */
        return text_str(&self->prices[i]);
    }
    if (ticks_to_decimal_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "core.market._book_side is not configured");
        return NULL;
    }
    PyObject *ticks = rank_to_long(h * self->sign);
    if (ticks == NULL)
        return NULL;
    PyObject *text = PyObject_CallOneArg(ticks_to_decimal_fn, ticks);
    Py_DECREF(ticks);
    return text;
}

static PyObject *Side_as_dict(Side *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *dict = PyDict_New();
    for (Py_ssize_t i = 0; dict != NULL && i < self->n; i++) {
        PyObject *price = text_str(&self->prices[i]);
        PyObject *qty = price ? text_str(&self->qtys[i]) : NULL;
        if (qty == NULL || PyDict_SetItem(dict, price, qty) < 0)
            Py_CLEAR(dict);
        Py_XDECREF(price);
        Py_XDECREF(qty);
    }
    return dict;
}

static PyTypeObject SideType;

/* Two quantity strings of the same value ("1.0" and "1.00000000")? The wire's rules decide. */
static int same_quantity(PyObject *a, PyObject *b)
{
    int equal = PyUnicode_Compare(a, b);
    if (equal == 0)
        return 1;
    if (equal == -1 && PyErr_Occurred())
        return -1;
    if (decimal_ticks_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "core.market._book_side is not configured");
        return -1;
    }
    PyObject *x = PyObject_CallOneArg(decimal_ticks_fn, a);
    PyObject *y = x ? PyObject_CallOneArg(decimal_ticks_fn, b) : NULL;
    int same = y ? PyObject_RichCompareBool(x, y, Py_EQ) : -1;
    Py_XDECREF(x);
    Py_XDECREF(y);
    if (same == -1 && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear(); /* not a plain decimal (a snapshot's quantities are not parsed): different strings differ */
        return 0;
    }
    return same;
}

/* same_quantity of two kept texts: equal characters are the same quantity without making a str. */
static int same_text_quantity(const Text *a, const Text *b)
{
    if (a->inline_.len != HELD && a->inline_.len == b->inline_.len &&
        memcmp(a->inline_.chars, b->inline_.chars, a->inline_.len) == 0)
        return 1;
    PyObject *x = text_str(a);
    PyObject *y = x ? text_str(b) : NULL;
    int same = y ? same_quantity(x, y) : -1;
    Py_XDECREF(x);
    Py_XDECREF(y);
    return same;
}

static PyObject *Side_agrees_with(Side *self, PyObject *other_obj)
{
    if (!PyObject_TypeCheck(other_obj, &SideType)) {
        PyErr_SetString(PyExc_TypeError, "agrees_with takes another Side");
        return NULL;
    }
    Side *other = (Side *)other_obj;
    rank_t bound = self->horizon > other->horizon ? self->horizon : other->horizon;
    Py_ssize_t i = bisect_left(self, bound), j = bisect_left(other, bound);
    if (self->n - i != other->n - j)
        Py_RETURN_FALSE;
    for (; i < self->n; i++, j++) {
        if (self->ranks[i] != other->ranks[j])
            Py_RETURN_FALSE;
        int same = same_text_quantity(&self->qtys[i], &other->qtys[j]);
        if (same < 0)
            return NULL;
        if (!same)
            Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyObject *Side_get_complete(Side *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->horizon == UNBOUNDED);
}

static PyObject *Side_get_depth(Side *self, void *Py_UNUSED(closure)) { return PyLong_FromSsize_t(self->depth); }

static PyObject *Side_get_cap(Side *self, void *Py_UNUSED(closure))
{
    if (self->cap < 0)
        Py_RETURN_NONE;
    return PyLong_FromSsize_t(self->cap);
}

static PyObject *Side_sizeof(Side *self, PyObject *Py_UNUSED(ignored))
{
    size_t slot = sizeof(rank_t) + 2 * sizeof(Text); /* and the objects of the texts not inline, uncounted */
    return PyLong_FromSize_t(sizeof(Side) + (size_t)self->size * slot);
}

static PyMethodDef Side_methods[] = {
    {"clear", (PyCFunction)Side_clear, METH_NOARGS, "Forget every level and the horizon."},
    {"load", (PyCFunction)Side_load, METH_VARARGS, "load(levels, limit): replace the side with a REST snapshot's."},
    {"apply", (PyCFunction)Side_apply, METH_O, "apply(levels): an event's absolute quantities; zero removes."},
    {"top", (PyCFunction)Side_top, METH_O, "top(n): the best n levels, best first."},
    {"capture", (PyCFunction)Side_capture, METH_O, "capture(n): (the best n levels' msgpack bytes, their numbers)."},
    {"best", (PyCFunction)Side_best, METH_NOARGS, "The best level, or None."},
    {"best_rank", (PyCFunction)Side_best_rank, METH_NOARGS, "The best level's rank, or None."},
    {"room", (PyCFunction)Side_room, METH_VARARGS, "room(n, cap): levels inside the horizon beyond the best n."},
    {"horizon_price", (PyCFunction)Side_horizon_price, METH_NOARGS, "The horizon level's price, or None."},
    {"as_dict", (PyCFunction)Side_as_dict, METH_NOARGS, "Every level as price -> quantity."},
    {"agrees_with", (PyCFunction)Side_agrees_with, METH_O, "The same levels inside both horizons?"},
    {"__sizeof__", (PyCFunction)Side_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Side_getset[] = {
    {"complete", (getter)Side_get_complete, NULL, "The snapshot held the whole side (unbounded horizon).", NULL},
    {"depth", (getter)Side_get_depth, NULL, NULL, NULL},
    {"cap", (getter)Side_get_cap, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Side_as_sequence = {
    .sq_length = (lenfunc)Side_len,
};

static PyTypeObject SideType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "core.market._book_side.Side",
    .tp_doc = "Side(sign, depth, cap): one side of an order book in sorted flat arrays.",
    .tp_basicsize = sizeof(Side),
    .tp_flags = Py_TPFLAGS_DEFAULT, /* holds only str objects: no reference cycles, no GC tracking */
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Side_init,
    .tp_dealloc = (destructor)Side_dealloc,
    .tp_methods = Side_methods,
    .tp_getset = Side_getset,
    .tp_as_sequence = &Side_as_sequence,
};

static PyObject *configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *ticks, *text;
    if (!PyArg_ParseTuple(args, "OO", &ticks, &text))
        return NULL;
    Py_INCREF(ticks);
    Py_INCREF(text);
    Py_XSETREF(decimal_ticks_fn, ticks);
    Py_XSETREF(ticks_to_decimal_fn, text);
    Py_RETURN_NONE;
}

/* apply_event(bids_side, asks_side, bids, asks) -> crossed: an event's two sides applied as Side.apply applies
 * each (bids first; an error leaves the bids applied), then whether the best bid is at or above the best ask
 * (OrderBook.is_crossed). One call for what every received frame needs: two applies and a crossed check were four
 * calls and a Python method. */
static PyObject *apply_event(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyObject_TypeCheck(args[0], &SideType) || !PyObject_TypeCheck(args[1], &SideType)) {
        PyErr_SetString(PyExc_TypeError, "apply_event(bids_side, asks_side, bids, asks) takes two Sides and two lists");
        return NULL;
    }
    Side *bids = (Side *)args[0], *asks = (Side *)args[1];
    PyObject *done = Side_apply(bids, args[2]);
    if (done == NULL)
        return NULL;
    Py_DECREF(done);
    done = Side_apply(asks, args[3]);
    if (done == NULL)
        return NULL;
    Py_DECREF(done);
    return PyBool_FromLong(bids->n && asks->n && bids->ranks[bids->n - 1] >= -asks->ranks[asks->n - 1]);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(decimal_ticks, ticks_to_decimal): the wire's rules for prices C does not parse itself."},
    {"apply_event", (PyCFunction)(void (*)(void))apply_event, METH_FASTCALL,
     "apply_event(bids_side, asks_side, bids, asks) -> crossed: both sides' apply, then the crossed check."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_book_side",
    .m_doc = "One side of an order book in flat memory.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__book_side(void)
{
    if (PyType_Ready(&SideType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SideType);
    if (PyModule_AddObject(m, "Side", (PyObject *)&SideType) < 0) {
        Py_DECREF(&SideType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
