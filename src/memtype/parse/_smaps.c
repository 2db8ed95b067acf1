/* Fast /proc/PID/smaps parser: one pass over the text, no regular expressions.
 *
 * parse(data: bytes, vma_type=tuple) -> (names, vmas)
 *   names: tuple of the "kB" field names in file order, e.g. ("Size", "KernelPageSize", ...)
 *   vmas:  list of vma_type instances (a namedtuple class works: a tuple subtype) of (start, end, perms, offset, dev, inode, path, vmflags, values)
 *          values is a tuple of ints (kB) in the order of names.
 *
 * Every entry must carry the same kB fields in the same order (the kernel prints them
 * unconditionally: fs/proc/task_mmu.c __show_smap). Anything unexpected raises
 * ValueError("line N: ..."); the caller then uses the tolerant pure-Python parser,
 * which reports the damage and keeps the rest. This module only makes the common case
 * fast; memtype works without it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_FIELDS 64

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static PyObject *fail(Py_ssize_t lineno, const char *msg) {
    PyErr_Format(PyExc_ValueError, "line %zd: %s", lineno, msg);
    return NULL;
}

static int parse_hex(const char **p, const char *end, unsigned long long *out) {
    unsigned long long v = 0; const char *s = *p;
    if (s >= end || !is_hex(*s)) return -1;
    while (s < end && is_hex(*s)) { v = v * 16 + (unsigned)(*s <= '9' ? *s - '0' : *s - 'a' + 10); s++; }
    *p = s; *out = v; return 0;
}

static PyObject *py_parse(PyObject *self, PyObject *args) {
    Py_buffer buf;
    PyTypeObject *vma_type = &PyTuple_Type;  /* or a namedtuple class (a tuple subtype without extra fields) */
    if (!PyArg_ParseTuple(args, "y*|O!", &buf, &PyType_Type, &vma_type)) return NULL;
    if (vma_type != &PyTuple_Type && !PyType_IsSubtype(vma_type, &PyTuple_Type)) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "vma_type must be a tuple subclass");
        return NULL;
    }
    const char *data = buf.buf, *end = data + buf.len, *p = data;
    PyObject *names = NULL, *vmas = PyList_New(0), *pending = NULL, *result = NULL;
    PyObject *name_list = PyList_New(0);
    /* field-name positions of the first entry, used to check later entries cheaply */
    const char *first_name[MAX_FIELDS]; Py_ssize_t first_len[MAX_FIELDS];
    long long values[MAX_FIELDS];
    int nfields = -1, idx = 0, have_vma = 0;
    Py_ssize_t lineno = 0;
    PyObject *hdr = NULL; /* (start, end, perms, offset, dev, inode, path) */
    if (!vmas || !name_list) goto done;

#define FINISH_VMA(flags_obj) do { \
        if (nfields < 0) { nfields = idx; } \
        else if (idx != nfields) { Py_XDECREF(flags_obj); fail(lineno, "entry has a different set of fields"); goto done; } \
        PyObject *vals = PyTuple_New(nfields); if (!vals) { Py_XDECREF(flags_obj); goto done; } \
        for (int i_ = 0; i_ < nfields; i_++) { PyObject *n_ = PyLong_FromLongLong(values[i_]); if (!n_) { Py_DECREF(vals); Py_XDECREF(flags_obj); goto done; } PyTuple_SET_ITEM(vals, i_, n_); } \
        PyObject *t_ = vma_type == &PyTuple_Type ? PyTuple_New(9) : vma_type->tp_alloc(vma_type, 9); if (!t_) { Py_DECREF(vals); Py_XDECREF(flags_obj); goto done; } \
        for (int i_ = 0; i_ < 7; i_++) { PyObject *o_ = PyTuple_GET_ITEM(hdr, i_); Py_INCREF(o_); PyTuple_SET_ITEM(t_, i_, o_); } \
        PyTuple_SET_ITEM(t_, 7, flags_obj); PyTuple_SET_ITEM(t_, 8, vals); \
        if (PyList_Append(vmas, t_) < 0) { Py_DECREF(t_); goto done; } \
        Py_DECREF(t_); Py_CLEAR(hdr); have_vma = 0; idx = 0; \
    } while (0)

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) { lineno++; fail(lineno, "truncated line (no newline)"); goto done; }
        lineno++;
        const char *line = p; p = eol + 1;
        if (is_hex(line[0])) {
            /* header: start-end perms offset major:minor inode   path */
            if (have_vma) { PyObject *none_ = PyUnicode_FromStringAndSize("", 0); if (!none_) goto done; FINISH_VMA(none_); }
            const char *s = line; unsigned long long start, stop, off, inode = 0;
            if (parse_hex(&s, eol, &start) || s >= eol || *s++ != '-' || parse_hex(&s, eol, &stop) || s >= eol || *s++ != ' ')
                { fail(lineno, "bad mapping header"); goto done; }
            if (eol - s < 5 || s[4] != ' ') { fail(lineno, "bad permissions"); goto done; }
            const char *perms = s; s += 5;
            if (parse_hex(&s, eol, &off) || s >= eol || *s++ != ' ') { fail(lineno, "bad offset"); goto done; }
            const char *dev = s; while (s < eol && *s != ' ') s++;
            Py_ssize_t devlen = s - dev;
            if (s >= eol || devlen < 3) { fail(lineno, "bad device"); goto done; }
            s++;
            if (s >= eol || *s < '0' || *s > '9') { fail(lineno, "bad inode"); goto done; }
            while (s < eol && *s >= '0' && *s <= '9') { inode = inode * 10 + (unsigned)(*s - '0'); s++; }
            while (s < eol && *s == ' ') s++;
            hdr = Py_BuildValue("(KKs#Ks#KN)", start, stop, perms, (Py_ssize_t)4, off, dev, devlen, inode,
                                PyUnicode_DecodeUTF8(s, eol - s, "surrogateescape"));
            if (!hdr) goto done;
            have_vma = 1; idx = 0;
            continue;
        }
        if (!have_vma) { fail(lineno, "field before any mapping header"); goto done; }
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon) { fail(lineno, "line without a colon"); goto done; }
        Py_ssize_t nlen = colon - line;
        if (nlen == 7 && memcmp(line, "VmFlags", 7) == 0) {
            const char *s = colon + 1, *e = eol;
            while (s < e && *s == ' ') s++;
            while (e > s && e[-1] == ' ') e--;
            PyObject *fl = PyUnicode_FromStringAndSize(s, e - s);
            if (!fl) goto done;
            FINISH_VMA(fl);
            continue;
        }
        /* "Name:   123 kB" (ignore fields without a kB unit: THPeligible, ProtectionKey) */
        if (eol - line < 3 || memcmp(eol - 3, " kB", 3) != 0) continue;
        const char *s = colon + 1;
        while (s < eol && *s == ' ') s++;
        long long v = 0; const char *digits = s;
        while (s < eol && *s >= '0' && *s <= '9') { v = v * 10 + (*s - '0'); s++; }
        if (s == digits || s != eol - 3) { fail(lineno, "bad number"); goto done; }
        if (idx >= MAX_FIELDS) { fail(lineno, "too many fields"); goto done; }
        if (nfields < 0) {
            first_name[idx] = line; first_len[idx] = nlen;
            PyObject *n = PyUnicode_FromStringAndSize(line, nlen);
            if (!n || PyList_Append(name_list, n) < 0) { Py_XDECREF(n); goto done; }
            Py_DECREF(n);
        } else if (idx >= nfields || first_len[idx] != nlen || memcmp(first_name[idx], line, (size_t)nlen) != 0) {
            fail(lineno, "unexpected field (entries differ)"); goto done;
        }
        values[idx++] = v;
    }
    if (have_vma) { PyObject *none_ = PyUnicode_FromStringAndSize("", 0); if (!none_) goto done; FINISH_VMA(none_); }
    names = PyList_AsTuple(name_list);
    if (!names) goto done;
    result = PyTuple_Pack(2, names, vmas);
done:
    Py_XDECREF(hdr); Py_XDECREF(names); Py_XDECREF(vmas); Py_XDECREF(name_list); Py_XDECREF(pending);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", py_parse, METH_VARARGS, "parse(data: bytes, vma_type=tuple) -> (names, vmas); see module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_smaps", "Fast smaps parser.", -1, methods};

PyMODINIT_FUNC PyInit__smaps(void) { return PyModule_Create(&module); }
