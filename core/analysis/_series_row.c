/* A captured book's series row in one call: core.analysis._series_row.captured_row.
 *
 * The same bytes as `series_from_snapshot(snap).to_bytes()` of a captured snapshot (core/analysis/series.py and
 * `captured_top` in core/analysis/l1.py are the specification; tests/core/analysis/test_series_row_c.py compares
 * the two on generated books). Why it exists: the recorder derives 1,500 rows a second at the whole market, and
 * in Python each one builds a view, two slices, a TopOfBook and a SeriesRow before it packs 89 bytes
 * (docs/PERFORMANCE.md, "Session 21").
 *
 * It answers None wherever its arithmetic might not be Python's to the last bit, and the caller then takes the
 * Python path: a quantity that is not finite (math.fsum's special cases), a price beyond 2^53 ticks (Python
 * divides the integer exactly; a double conversion would round twice), a big-endian machine (the records are
 * in the machine's order, the row is little-endian). Build with -ffp-contract=off: a fused multiply-add would
 * round the microprice once where Python rounds twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define RECORD 16            /* int64 price ticks, float64 quantity */
#define TICKS_PER_UNIT 1e8   /* exact as a double */
#define EXACT_TICKS (1LL << 53)
#define ROW_SIZE 89          /* "<Bq9dQ" */
#define ROW_VERSION 1
#define MAX_PARTIALS 64      /* more than 20 finite doubles can ever need */

/* The correctly rounded sum of n finite doubles, as math.fsum computes it: Shewchuk's exact partials (no two
 * overlap), then their sum rounded once, half to even. */
static double exact_sum(const double *values, Py_ssize_t n)
{
    double partials[MAX_PARTIALS];
    Py_ssize_t count = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        double x = values[k];
        Py_ssize_t kept = 0;
        for (Py_ssize_t j = 0; j < count; j++) {
            double y = partials[j];
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            double hi = x + y;
            double lo = y - (hi - x);
            if (lo != 0.0)
                partials[kept++] = lo;
            x = hi;
        }
        count = kept;
        if (x != 0.0) /* as math.fsum: a zero sum adds no partial */
            partials[count++] = x;
    }
    if (count == 0)
        return 0.0;
    Py_ssize_t i = count - 1;
    double hi = partials[i], lo = 0.0;
    while (i > 0) { /* add from the largest down until the sum stops being exact */
        double x = hi;
        double y = partials[--i];
        hi = x + y;
        lo = y - (hi - x);
        if (lo != 0.0)
            break;
    }
    /* Half-way cases: the rest of the partials decide which way lo rounds. */
    if (i > 0 && ((lo < 0.0 && partials[i - 1] < 0.0) || (lo > 0.0 && partials[i - 1] > 0.0))) {
        double y = lo * 2.0;
        double x = hi + y;
        if (y == x - hi)
            hi = x;
    }
    return hi;
}

typedef struct {
    double best;   /* NaN: an empty side */
    double size;   /* quantity at the best price; NaN: an empty side */
    double volume; /* the top levels' quantities, summed exactly */
} SideTop;

/* 0, or -1 when this side must take the Python path. */
static int side_top(const char *records, Py_ssize_t length, Py_ssize_t depth, SideTop *out)
{
    Py_ssize_t n = length / RECORD;
    if (n > depth)
        n = depth;
    double qtys[MAX_PARTIALS];
    if (n > MAX_PARTIALS)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&qtys[i], records + i * RECORD + 8, 8);
        if (!isfinite(qtys[i]))
            return -1;
    }
    if (n == 0) {
        out->best = out->size = NAN;
        out->volume = 0.0;
        return 0;
    }
    int64_t ticks;
    memcpy(&ticks, records, 8);
    if (ticks > EXACT_TICKS || ticks < -EXACT_TICKS)
        return -1;
    out->best = (double)ticks / TICKS_PER_UNIT;
    out->size = qtys[0];
    out->volume = exact_sum(qtys, n);
    return isfinite(out->volume) ? 0 : -1; /* an overflow: math.fsum raises it, in Python */
}

static char *put_double(char *out, double value)
{
    memcpy(out, &value, 8);
    return out + 8;
}

/* captured_row(bid_levels, ask_levels, timestamp, update_id, depth) -> bytes | None */
static PyObject *captured_row(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer bids, asks;
    long long timestamp;
    unsigned long long update_id;
    Py_ssize_t depth;
    PyObject *timestamp_obj, *update_id_obj;
    if (!PyArg_ParseTuple(args, "y*y*OOn", &bids, &asks, &timestamp_obj, &update_id_obj, &depth))
        return NULL;
    PyObject *result = NULL;
#if PY_LITTLE_ENDIAN
    /* Not an int64 second or a uint64 id: struct's own error, in Python. */
    timestamp = PyLong_AsLongLong(timestamp_obj);
    if (timestamp == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        goto fallback;
    }
    update_id = PyLong_AsUnsignedLongLong(update_id_obj);
    if (update_id == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        goto fallback;
    }
    SideTop bid, ask;
    if (depth < 0 || side_top(bids.buf, bids.len, depth, &bid) || side_top(asks.buf, asks.len, depth, &ask))
        goto fallback;
    /* The arithmetic of l1._top and series_from_snapshot, operation for operation. NaN fails every comparison,
     * so a missing side lands where Python's conditional expressions land. */
    double top_sizes = bid.size + ask.size;
    double mid = (bid.best + ask.best) / 2.0;
    double spread = ask.best - bid.best;
    double microprice = top_sizes > 0.0 ? (bid.best * ask.size + ask.best * bid.size) / top_sizes : NAN;
    double spread_bps = mid > 0.0 ? spread / mid * 10000.0 : NAN;
    double total = bid.volume + ask.volume;
    double imbalance = total > 0.0 ? bid.volume / total : 0.5;
    result = PyBytes_FromStringAndSize(NULL, ROW_SIZE);
    if (result == NULL)
        goto done;
    char *out = PyBytes_AS_STRING(result);
    *out++ = ROW_VERSION;
    memcpy(out, &timestamp, 8);
    out += 8;
    out = put_double(out, bid.best);
    out = put_double(out, ask.best);
    out = put_double(out, mid);
    out = put_double(out, spread);
    out = put_double(out, spread_bps);
    out = put_double(out, microprice);
    out = put_double(out, bid.volume);
    out = put_double(out, ask.volume);
    out = put_double(out, imbalance);
    memcpy(out, &update_id, 8);
    goto done;
fallback:
#else
    (void)timestamp;
    (void)update_id;
    (void)timestamp_obj;
    (void)update_id_obj;
    (void)depth;
#endif
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&bids);
    PyBuffer_Release(&asks);
    return result;
}

static PyMethodDef methods[] = {
    {"captured_row", captured_row, METH_VARARGS,
     "captured_row(bid_levels, ask_levels, timestamp, update_id, depth): the series row's bytes, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "core.analysis._series_row", "A captured book's series row in one call.", -1, methods,
};

PyMODINIT_FUNC PyInit__series_row(void)
{
    return PyModule_Create(&module);
}
