/* A minute's heatmap bins from the recorder's numbers, in one call: core.analysis._heat_bins.minute_bins.
 *
 * `numbers_rows_numpy` (core/analysis/heat_rollups.py) is the specification: the minute's unit from the greatest common
 * divisor of all its price ticks (both sides), each level's ticks floored to that unit, and each bin's quantity
 * summed in the order the records come (second after second, best level first), as np.bincount adds them; bins
 * ascending, only those a record fell in. tests/core/analysis/test_heat_bins_c.py compares the two on generated
 * minutes, bit for bit.
 *
 * Why: the recorder closes every symbol's minute at once, 1,500 minutes of 60 books at the whole market. numpy's pass
 * first joined every record into one 29 MB buffer per side, and its bins into more of them, once a minute: about
 * 1.5 µs of CPU per received frame (docs/PERFORMANCE.md, session 24). Here each book's records are read where they
 * lie, and a minute's sums live in a buffer of its own span.
 *
 * It declines a minute (None) whose bins of one side span far more than its records (prices decades apart), where
 * the specification merges by sorting; the caller then takes the Python path for that minute.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define RECORD 16     /* int64 price ticks, float64 quantity, in the machine's order (LEVEL_NUMBERS) */
#define DECIMALS 8    /* a tick is 1e-8 of a price unit */

static int64_t gcd64(int64_t a, int64_t b)
{
    uint64_t x = a < 0 ? -(uint64_t)a : (uint64_t)a, y = b < 0 ? -(uint64_t)b : (uint64_t)b;
    while (y) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return (int64_t)x;
}

static int64_t floor_div(int64_t a, int64_t b) /* numpy's // on int64, b > 0 */
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ticks_at(const char *record)
{
    int64_t ticks;
    memcpy(&ticks, record, sizeof ticks);
    return ticks;
}

/* One side's bins of a minute: (bins, sums) as bytearrays of int64 and float64, or Py_None when they span more
 * than the specification's dense rule allows (span > 4 x records + 64), or NULL with an exception set. */
static PyObject *side_bins(PyObject *books, int side, int64_t step)
{
    Py_ssize_t n_books = PyList_GET_SIZE(books), records = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (Py_ssize_t b = 0; b < n_books; b++) {
        PyObject *part = PyTuple_GET_ITEM(PyList_GET_ITEM(books, b), side);
        const char *data = PyBytes_AS_STRING(part);
        Py_ssize_t n = PyBytes_GET_SIZE(part) / RECORD;
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t bin = floor_div(ticks_at(data + i * RECORD), step);
            lo = bin < lo ? bin : lo;
            hi = bin > hi ? bin : hi;
        }
        records += n;
    }
    if (records == 0)
        return Py_BuildValue("(y#y#)", "", (Py_ssize_t)0, "", (Py_ssize_t)0);
    /* The span in unsigned arithmetic: two prices decades apart must not overflow the test. hi - lo fits 64 bits,
     * hi - lo + 1 does not (bins INT64_MIN and INT64_MAX: 2^64, which wraps to 0): test span - 1. */
    uint64_t extent = (uint64_t)hi - (uint64_t)lo;
    if (extent >= (uint64_t)(4 * records + 64))
        Py_RETURN_NONE;
    uint64_t span = extent + 1;
    double *sums = PyMem_Calloc((size_t)span, sizeof(double));
    unsigned char *held = PyMem_Calloc((size_t)span, 1);
    PyObject *result = NULL;
    if (sums == NULL || held == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t b = 0; b < n_books; b++) {
        PyObject *part = PyTuple_GET_ITEM(PyList_GET_ITEM(books, b), side);
        const char *data = PyBytes_AS_STRING(part);
        Py_ssize_t n = PyBytes_GET_SIZE(part) / RECORD;
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t slot = (uint64_t)floor_div(ticks_at(data + i * RECORD), step) - (uint64_t)lo;
            double qty;
            memcpy(&qty, data + i * RECORD + 8, sizeof qty);
            sums[slot] += qty; /* in the records' order, from 0.0: np.bincount's sum */
            held[slot] = 1;
        }
    }
    Py_ssize_t count = 0;
    for (uint64_t s = 0; s < span; s++)
        count += held[s];
    PyObject *bins_out = PyByteArray_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
    PyObject *sums_out = PyByteArray_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(double));
    if (bins_out != NULL && sums_out != NULL) {
        int64_t *bins_at = (int64_t *)PyByteArray_AS_STRING(bins_out);
        double *sums_at = (double *)PyByteArray_AS_STRING(sums_out);
        Py_ssize_t k = 0;
        for (uint64_t s = 0; s < span; s++) {
            if (held[s]) {
                int64_t bin = (int64_t)((uint64_t)lo + s);
                memcpy(bins_at + k, &bin, sizeof bin);
                memcpy(sums_at + k, sums + s, sizeof(double));
                k++;
            }
        }
        result = PyTuple_Pack(2, bins_out, sums_out);
    }
    Py_XDECREF(bins_out);
    Py_XDECREF(sums_out);
done:
    PyMem_Free(sums);
    PyMem_Free(held);
    return result;
}

/* minute_bins(books) -> (decimals, (bid_bins, bid_sums), (ask_bins, ask_sums)) or None: `books` a list of
 * (bid_records, ask_records) bytes pairs, one per stored second in time order. */
static PyObject *minute_bins(PyObject *Py_UNUSED(module), PyObject *books)
{
    if (!PyList_CheckExact(books)) {
        PyErr_SetString(PyExc_TypeError, "minute_bins() takes a list of (bids, asks) records pairs");
        return NULL;
    }
    Py_ssize_t n_books = PyList_GET_SIZE(books);
    int64_t divisor = 0;
    for (Py_ssize_t b = 0; b < n_books; b++) {
        PyObject *book = PyList_GET_ITEM(books, b);
        if (!PyTuple_CheckExact(book) || PyTuple_GET_SIZE(book) != 2) {
            PyErr_SetString(PyExc_TypeError, "minute_bins() takes a list of (bids, asks) records pairs");
            return NULL;
        }
        for (int side = 0; side < 2; side++) {
            PyObject *part = PyTuple_GET_ITEM(book, side);
            if (!PyBytes_CheckExact(part) || PyBytes_GET_SIZE(part) % RECORD != 0) {
                PyErr_SetString(PyExc_ValueError, "a side's records must be bytes of 16-byte LEVEL_NUMBERS records");
                return NULL;
            }
            const char *data = PyBytes_AS_STRING(part);
            for (Py_ssize_t i = 0; i < PyBytes_GET_SIZE(part) / RECORD; i++)
                divisor = gcd64(divisor, ticks_at(data + i * RECORD));
        }
    }
    /* The decimals its prices need: 8 less the decimal zeros the divisor ends with (0: none to need, 8 zeros). */
    int zeros = 0;
    int64_t step = 1;
    while (zeros < DECIMALS && divisor % (step * 10) == 0) {
        step *= 10;
        zeros++;
    }
    PyObject *bids = side_bins(books, 0, step);
    if (bids == NULL || bids == Py_None)
        return bids;
    PyObject *asks = side_bins(books, 1, step);
    if (asks == NULL || asks == Py_None) {
        Py_DECREF(bids);
        return asks;
    }
    return Py_BuildValue("(iNN)", DECIMALS - zeros, bids, asks);
}

static PyMethodDef module_methods[] = {
    {"minute_bins", minute_bins, METH_O,
     "minute_bins(books) -> (decimals, (bid_bins, bid_sums), (ask_bins, ask_sums)) as int64 and float64 "
     "bytearrays, or None where numbers_rows_numpy must merge by sorting: core.analysis.heat_rollups, in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_heat_bins",
    .m_doc = "A minute's heatmap bins from the recorder's numbers, in one call.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__heat_bins(void) { return PyModule_Create(&module); }
