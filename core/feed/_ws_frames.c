/* The whole data frames at the front of a socket read, cut in C: core.feed._ws_frames.whole_data_frames.
 *
 * core.feed.stream.whole_data_frames is the specification (RFC 6455 §5.2): the payloads of the unfragmented,
 * unmasked text and binary frames at the front of `data` without an RSV bit, up to the first frame that is
 * anything else, is not all in `data`, or is longer than `max_size`; and how many bytes they take. This gives
 * exactly what it gives, for any bytes (tests/core/feed/test_stream_frames.py runs both on the same frames).
 *
 * Why: the loop over a read's frames ran in Python for every frame the recorder receives (about 1 µs a frame at
 * whole-market load, docs/PERFORMANCE.md, session 24).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define WHOLE_TEXT 0x81   /* FIN, no RSV bit, opcode 1 */
#define WHOLE_BINARY 0x82 /* FIN, no RSV bit, opcode 2 */

static PyObject *whole_data_frames(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "whole_data_frames(data, max_size) takes two arguments");
        return NULL;
    }
    Py_ssize_t max_size = PyLong_AsSsize_t(args[1]);
    if (max_size == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear(); /* below any length (no frame), or beyond any length a read can hold (no limit) */
        max_size = _PyLong_Sign(args[1]) < 0 ? -1 : PY_SSIZE_T_MAX;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *data = view.buf;
    Py_ssize_t end = view.len, at = 0;
    PyObject *messages = PyList_New(0);
    if (messages == NULL)
        goto failed;
    while (end - at >= 2) {
        unsigned char first = data[at], length_byte = data[at + 1];
        if ((first != WHOLE_TEXT && first != WHOLE_BINARY) || (length_byte & 0x80)) /* masked: a client's */
            break;
        Py_ssize_t start = at + 2;
        uint64_t length = length_byte;
        int bytes = length_byte == 126 ? 2 : length_byte == 127 ? 8 : 0; /* the extended payload length */
        if (bytes) {
            if (end - start < bytes)
                break; /* its length is not all here: nor is the frame */
            length = 0;
            for (int i = 0; i < bytes; i++)
                length = (length << 8) | data[start + i];
            start += bytes;
        }
        if (max_size < 0 || length > (uint64_t)max_size || length > (uint64_t)(end - start))
            break;
        PyObject *payload = PyBytes_FromStringAndSize((const char *)data + start, (Py_ssize_t)length);
        if (payload == NULL || PyList_Append(messages, payload) < 0) {
            Py_XDECREF(payload);
            goto failed;
        }
        Py_DECREF(payload);
        at = start + (Py_ssize_t)length;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", messages, at);
failed:
    Py_XDECREF(messages);
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef module_methods[] = {
    {"whole_data_frames", (PyCFunction)(void (*)(void))whole_data_frames, METH_FASTCALL,
     "whole_data_frames(data, max_size) -> (payloads, used): core.feed.stream.whole_data_frames, in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ws_frames",
    .m_doc = "The whole data frames at the front of a socket read, cut in one pass.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__ws_frames(void) { return PyModule_Create(&module); }
